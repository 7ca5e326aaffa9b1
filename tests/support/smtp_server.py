#!/usr/bin/python3
"""A real SMTP server (aiosmtpd) for nurture's end-to-end tests.

    smtp_server.py PORT OUTDIR [DELAY_MS]

Recipients whose local part starts with `bounce` get 550 5.1.1; `flaky`
get 451 the first time each address is tried; the rest are accepted and
every accepted message is written to OUTDIR/NNNNN.eml. For `slow`
recipients the first message is written but the reply waits 30 s, so a
client can be killed between the two. While a file OUTDIR.busy exists
every transaction is refused at MAIL with 451 (a burst of temporary
failures). While a file OUTDIR.policy-after holding a number N exists,
once N messages were accepted every recipient at x.test is refused with
554 5.7.1 (our sending refused by policy; other domains still pass). DELAY_MS holds every reply to DATA that
long (a server that is not instant, so concurrent clients overlap). Prints `ready`
once listening; exits on SIGTERM.

It offers PIPELINING (RFC 2920) as real relays do, unless a file
OUTDIR.no-pipelining exists; each MAIL that arrived together with the
commands after it (RCPT already waiting in the buffer) is counted in
OUTDIR.pipelined, so a test can tell the client did pipeline.
"""
import asyncio
import itertools
import os
import signal
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out, delay):
        self.out = out
        self.delay = delay
        self.tried = set()
        self.held = set()
        self.count = itertools.count()
        self.accepted = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if os.path.exists(self.out.rstrip("/") + ".no-pipelining"):
            return responses
        return responses[:-1] + ["250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if server._reader is not None and len(server._reader._buffer) > 0:
            path = self.out.rstrip("/") + ".pipelined"
            count = int(open(path).read()) if os.path.exists(path) else 0
            with open(path, "w") as f:
                f.write(str(count + 1))
        if os.path.exists(self.out.rstrip("/") + ".busy"):
            return "451 4.3.2 too busy, try again later"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        policy = self.out.rstrip("/") + ".policy-after"
        if address.endswith("@x.test") and os.path.exists(policy):
            with open(policy) as f:
                if self.accepted >= int(f.read().strip() or 0):
                    return "554 5.7.1 message refused by policy"
        if local.startswith("bounce"):
            return "550 5.1.1 no such user here"
        if local.startswith("flaky") and address not in self.tried:
            self.tried.add(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.out, f"{next(self.count):05d}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        self.accepted += 1
        slow = [r for r in envelope.rcpt_tos if r.split("@")[0].startswith("slow") and r not in self.held]
        if slow:
            self.held.update(slow)
            await asyncio.sleep(30)
        elif self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    delay = int(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0
    os.makedirs(out, exist_ok=True)
    controller = Controller(Handler(out, delay), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
