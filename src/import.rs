//! Lead CSV files (`leads import`, `simulate --leads`): the lead fields by
//! column name, any other column an attribute. Validation is all-or-nothing:
//! the first bad row rejects the file, naming its line.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use crate::diag::Diagnostic;
use crate::store::NewLead;

const FIELDS: [&str; 9] =
    ["email", "first_name", "last_name", "company", "owner", "status", "status_changed_at", "lost_reason", "timezone"];
/// Kept by the database, not taken from files.
const MANAGED: [&str; 3] = ["created_at", "updated_at", "id"];

pub fn read(path: &Path, statuses: &[String]) -> Result<Vec<NewLead>, Diagnostic> {
    let source = crate::source::Source::read_large(path)?;
    parse(&source.text, statuses).map_err(|(line, msg)| Diagnostic::error(path, msg).at(line, 1))
}

/// Errors are (1-based line, message).
pub fn parse(text: &str, statuses: &[String]) -> Result<Vec<NewLead>, (usize, String)> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| (1, format!("unreadable header: {e}")))?
        .iter()
        .map(|h| h.to_lowercase())
        .collect();
    if !headers.iter().any(|h| h == "email") {
        return Err((1, "no `email` column; the header must name the columns (email,first_name,...)".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut leads = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| (e.position().map_or(0, |p| p.line() as usize), format!("bad CSV: {e}")))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let mut lead = NewLead::default();
        for (name, value) in headers.iter().zip(record.iter()) {
            let given = (!value.is_empty()).then(|| value.to_string());
            match name.as_str() {
                "email" => {
                    lead.email = crate::email::parse_address(value).map_err(|e| (line, e))?.to_string();
                }
                "first_name" => lead.first_name = given,
                "last_name" => lead.last_name = given,
                "company" => lead.company = given,
                "owner" if value.is_empty() => lead.owner = Some(String::new()),
                "owner" => {
                    lead.owner =
                        Some(crate::email::parse_address(value).map_err(|e| (line, format!("owner: {e}")))?.to_string())
                }
                "status" if !value.is_empty() && !statuses.iter().any(|s| s == value) => {
                    return Err((line, format!("unknown status {value:?}; known: {}", statuses.join(", "))));
                }
                "status" => lead.status = given,
                "status_changed_at" if value.is_empty() => {}
                "status_changed_at" => lead.status_changed_at = Some(parse_time(value).map_err(|e| (line, e))?),
                "lost_reason" => lead.lost_reason = given,
                "timezone" if !value.is_empty() => {
                    crate::fields::parse_zone(value).map_err(|e| (line, e))?;
                    lead.timezone = given;
                }
                "timezone" => lead.timezone = Some(String::new()),
                n if MANAGED.contains(&n) || FIELDS.contains(&n) => {}
                n if !value.is_empty() => {
                    lead.attributes.insert(n.to_string(), value.to_string());
                }
                _ => {}
            }
        }
        if !seen.insert(lead.email.clone()) {
            return Err((line, format!("{} appears twice in this file", lead.email)));
        }
        leads.push(lead);
    }
    Ok(leads)
}

/// RFC 3339, or a plain date (midnight UTC).
pub fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| format!("invalid time {value:?}; write RFC 3339 (2026-02-01T09:00:00Z) or a date (2026-02-01)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses() -> Vec<String> {
        crate::config::DEFAULT_STATUSES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn fields_by_name_and_other_columns_become_attributes() {
        let csv = "Email,first_name,status,status_changed_at,region,timezone\nAna@X.test,Ana,lost,2025-11-01,emea,Asia/Tokyo\n";
        let leads = parse(csv, &statuses()).unwrap();
        assert_eq!(leads[0].email, "ana@x.test");
        assert_eq!(leads[0].first_name.as_deref(), Some("Ana"));
        assert_eq!(leads[0].status_changed_at, Some(parse_time("2025-11-01T00:00:00Z").unwrap()));
        assert_eq!(leads[0].attributes["region"], "emea");
        assert_eq!(leads[0].last_name, None, "absent columns leave fields alone");
    }

    #[test]
    fn a_bad_row_rejects_the_file_with_its_line() {
        let cases = [
            ("email,status\na@x.test,new\nnot-an-email,new\n", 3, "not an email"),
            ("email,status\na@x.test,gone\n", 2, "unknown status"),
            ("email,timezone\na@x.test,Mars/Base\n", 2, "time zone"),
            ("email,status_changed_at\na@x.test,yesterday\n", 2, "RFC 3339"),
            ("email\na@x.test\nA@x.test\n", 3, "twice"),
            ("name\nAna\n", 1, "no `email` column"),
            ("email,status\na@x.test,new,extra\n", 2, "bad CSV"),
        ];
        for (csv, line, want) in cases {
            let (l, msg) = parse(csv, &statuses()).unwrap_err();
            assert_eq!(l, line, "{csv:?}: {msg}");
            assert!(msg.contains(want), "{csv:?}: {msg}");
        }
    }
}
