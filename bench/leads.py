#!/usr/bin/env python3
"""Write N synthetic leads as CSV: bench/leads.py N > leads.csv"""
import random, sys

random.seed(7)
statuses = ["new", "nurturing", "nurturing", "nurturing", "lost", "disqualified", "won", "sales_ready"]
zones = ["Europe/London", "America/New_York", "Asia/Tokyo", "Europe/Berlin", "America/Los_Angeles", ""]
reasons = ["budget", "timing", "competitor", ""]
out = sys.stdout
out.write("email,first_name,last_name,company,owner,status,status_changed_at,lost_reason,timezone,region\n")
for i in range(int(sys.argv[1])):
    s = random.choice(statuses)
    month = 1 + random.randrange(12)
    year = random.choice([2025, 2026])
    reason = random.choice(reasons) if s in ("lost", "disqualified") else ""
    out.write(f"lead{i}@example.test,F{i},L{i},Company {i % 500},rep{i % 20}@sales.example,{s},"
              f"{year}-{month:02d}-01T00:00:00Z,{reason},{random.choice(zones)},emea\n")
