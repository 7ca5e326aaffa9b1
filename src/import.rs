//! Lead CSV files (`leads import`, `simulate --leads`): the lead fields by
//! column name, any other column an attribute. Validation is all-or-nothing:
//! a bad row rejects the file, and every bad row (up to 20) is named at its
//! line; a column named nearly as a lead field is a warning.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use crate::diag::{Diagnostic, Diagnostics};
use crate::store::NewLead;

const FIELDS: [&str; 10] = [
    "email",
    "first_name",
    "last_name",
    "company",
    "owner",
    "status",
    "status_changed_at",
    "lost_reason",
    "phone",
    "timezone",
];
/// Kept by the database, not taken from files.
const MANAGED: [&str; 3] = ["created_at", "updated_at", "id"];

/// Rows read per batch by [`import`].
pub const BATCH: usize = 1000;

/// Validate the whole file (nothing is written if a row is bad), then hand
/// it to `write` in batches: two streaming passes, so memory does not grow
/// with the file. A later row for the same email updates the earlier one.
/// Each warning about the file (a column named nearly as a lead field) is
/// given to `warn` before any row is read.
pub async fn import<F, Fut, E>(
    path: &Path,
    statuses: &[String],
    mut write: F,
    mut warn: impl FnMut(Diagnostic),
) -> Result<usize, ImportError<E>>
where
    F: FnMut(Vec<NewLead>) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    // First pass: every bad row (up to a limit), so a file with several
    // mistakes is fixed in one round, and nothing is written unless all
    // rows are good.
    let rows = Rows::open(path, statuses)?;
    for w in rows.header_warnings() {
        warn(Diagnostic::warning(path, w).at(1, 1));
    }
    let mut count = 0;
    let mut bad = Diagnostics::default();
    let mut more = 0;
    for row in rows {
        match row {
            Ok(_) => count += 1,
            Err(_) if bad.0.len() >= MAX_REPORTED => more += 1,
            Err((line, msg)) => bad.push(Diagnostic::error(path, msg).at(line, 1)),
        }
    }
    if !bad.0.is_empty() {
        if more > 0 {
            bad.push(Diagnostic::error(path, format!("and {more} more bad row(s) not listed")));
        }
        return Err(ImportError::Invalid(bad));
    }
    let mut batch = Vec::with_capacity(BATCH);
    for row in Rows::open(path, statuses)? {
        batch.push(row.map_err(|(line, msg)| ImportError::Invalid(one(Diagnostic::error(path, msg).at(line, 1))))?);
        if batch.len() == BATCH {
            write(std::mem::take(&mut batch)).await.map_err(ImportError::Write)?;
        }
    }
    if !batch.is_empty() {
        write(batch).await.map_err(ImportError::Write)?;
    }
    Ok(count)
}

/// Bad rows listed by one failed import; beyond, a count.
const MAX_REPORTED: usize = 20;

fn one(d: Diagnostic) -> Diagnostics {
    Diagnostics(vec![d])
}

#[derive(Debug)]
pub enum ImportError<E> {
    /// Every bad row (up to 20), each at its line.
    Invalid(Diagnostics),
    Write(E),
}

impl<E> From<Diagnostic> for ImportError<E> {
    fn from(d: Diagnostic) -> Self {
        ImportError::Invalid(one(d))
    }
}

/// Every row of a text, validated; errors are (1-based line, message).
pub fn parse(text: &str, statuses: &[String]) -> Result<Vec<NewLead>, (usize, String)> {
    Rows::new(
        csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(Box::new(std::io::Cursor::new(text.to_string()))),
        statuses,
    )?
    .collect()
}

/// A lead CSV read one validated row at a time.
pub struct Rows<'a> {
    records: csv::StringRecordsIntoIter<Box<dyn std::io::Read>>,
    headers: Vec<String>,
    statuses: &'a [String],
}

impl<'a> Rows<'a> {
    pub fn open(path: &Path, statuses: &'a [String]) -> Result<Rows<'a>, Diagnostic> {
        let file = std::fs::File::open(path).map_err(|e| Diagnostic::error(path, format!("cannot read: {e}")))?;
        let reader =
            csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(Box::new(file) as Box<dyn std::io::Read>);
        Rows::new(reader, statuses).map_err(|(line, msg)| Diagnostic::error(path, msg).at(line, 1))
    }

    fn new(
        mut reader: csv::Reader<Box<dyn std::io::Read>>,
        statuses: &'a [String],
    ) -> Result<Rows<'a>, (usize, String)> {
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| (1, format!("unreadable header: {e}")))?
            .iter()
            .map(|h| h.to_lowercase())
            .collect();
        if !headers.iter().any(|h| h == "email") {
            return Err((1, "no `email` column; the header must name the columns (email,first_name,...)".into()));
        }
        Ok(Rows { records: reader.into_records(), headers, statuses })
    }

    /// Columns whose name is nearly a lead field (`frist_name`): they would
    /// silently become attributes, so each is named with the field meant.
    pub fn header_warnings(&self) -> Vec<String> {
        let taken: Vec<&str> = self.headers.iter().map(String::as_str).collect();
        self.headers
            .iter()
            .filter(|h| !FIELDS.contains(&h.as_str()) && !MANAGED.contains(&h.as_str()))
            .filter_map(|h| {
                let near = crate::fields::nearest(h, FIELDS.iter().copied().filter(|f| !taken.contains(f)), 2)?;
                Some(format!(
                    "column `{h}` is not a lead field and becomes the attribute `{h}`; did you mean `{near}`? \
                     (rename the column to import it as {near})"
                ))
            })
            .collect()
    }

    fn lead(&self, record: &csv::StringRecord, line: usize) -> Result<NewLead, (usize, String)> {
        let mut lead = NewLead::default();
        for (name, value) in self.headers.iter().zip(record.iter()) {
            set_field(&mut lead, name, value, self.statuses).map_err(|e| (line, e))?;
        }
        Ok(lead)
    }
}

/// The longest value of each lead field, in characters (README, *Leads*):
/// enough for any real name, short enough that a stranger's sign-up
/// cannot fill a rep's reminder or a subject line. The address's limit is
/// SMTP's ([`crate::email::MAX_ADDRESS`]).
pub const LIMITS: [(&str, usize); 5] =
    [("first_name", 100), ("last_name", 100), ("company", 200), ("lost_reason", 200), ("phone", 50)];
/// The longest attribute name, and value (free text: notes from a CRM).
pub const MAX_ATTRIBUTE_NAME: usize = 64;
pub const MAX_ATTRIBUTE: usize = 20_000;

fn within(name: &str, value: &str, max: usize) -> Result<(), String> {
    let n = value.chars().count();
    match n > max {
        true => Err(format!("{name} is {n} characters long; at most {max} are kept, shorten it")),
        false => Ok(()),
    }
}

/// Set one field of a lead from its text, as CSV columns and API JSON give
/// it: the lead fields by name, anything else an attribute.
pub fn set_field(lead: &mut NewLead, name: &str, value: &str, statuses: &[String]) -> Result<(), String> {
    let given = (!value.is_empty()).then(|| value.to_string());
    if let Some((_, max)) = LIMITS.iter().find(|(n, _)| *n == name) {
        within(name, value, *max)?;
    }
    match name {
        "email" => lead.email = crate::email::parse_address(value)?.to_string(),
        "first_name" => lead.first_name = given,
        "last_name" => lead.last_name = given,
        "company" => lead.company = given,
        "owner" if value.is_empty() => lead.owner = Some(String::new()),
        "owner" => {
            lead.owner = Some(crate::email::parse_address(value).map_err(|e| format!("owner: {e}"))?.to_string())
        }
        "status" if !value.is_empty() && !statuses.iter().any(|s| s == value) => {
            return Err(format!("unknown status {value:?}; known: {}", statuses.join(", ")));
        }
        "status" => lead.status = given,
        "status_changed_at" if value.is_empty() => {}
        "status_changed_at" => lead.status_changed_at = Some(parse_time(value)?),
        "lost_reason" => lead.lost_reason = given,
        "phone" if !value.is_empty() && !plausible_phone(value) => {
            return Err(format!(
                "phone {value:?} is not a phone number; write digits with an optional +, spaces, dots, dashes or parentheses"
            ));
        }
        "phone" => lead.phone = given,
        "timezone" if !value.is_empty() => {
            crate::fields::parse_zone(value)?;
            lead.timezone = given;
        }
        "timezone" => lead.timezone = Some(String::new()),
        n if MANAGED.contains(&n) || FIELDS.contains(&n) => {}
        n if !value.is_empty() => {
            within("an attribute's name", n, MAX_ATTRIBUTE_NAME)?;
            within(&format!("attribute {n:?}"), value, MAX_ATTRIBUTE)?;
            lead.attributes.insert(n.to_string(), value.to_string());
        }
        _ => {}
    }
    Ok(())
}

impl Rows<'_> {
    fn describe(&self, e: &csv::Error) -> String {
        match e.kind() {
            csv::ErrorKind::Utf8 { err, .. } => {
                let column = self.headers.get(err.field()).map_or(String::new(), |h| format!(" (`{h}`)"));
                format!(
                    "not UTF-8 text in column {}{column}; save the file as UTF-8 (in Excel: \"CSV UTF-8\")",
                    err.field() + 1
                )
            }
            _ => format!("bad CSV: {e}"),
        }
    }
}

impl Iterator for Rows<'_> {
    type Item = Result<NewLead, (usize, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = self.records.next()?;
        Some(match record {
            Err(e) => Err((e.position().map_or(0, |p| p.line() as usize), self.describe(&e))),
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                self.lead(&r, line)
            }
        })
    }
}

/// RFC 3339, or a plain date (midnight UTC).
/// Digits (at least 5), with the usual separators and a leading `+`, and
/// an extension (`x12`): a number a rep can dial, as written.
fn plausible_phone(value: &str) -> bool {
    let (number, ext) = value.split_once(['x', 'X']).unwrap_or((value, ""));
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let ok = |c: char| c.is_ascii_digit() || " .-()/".contains(c);
    digits >= 5
        && number.trim_start().trim_start_matches('+').chars().all(ok)
        && ext.chars().all(|c| c.is_ascii_digit() || c == ' ')
        && value.len() <= 40
}

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
    fn a_header_near_a_lead_field_is_named() {
        let rows = Rows::new(
            csv::ReaderBuilder::new()
                .from_reader(Box::new(std::io::Cursor::new("email,frist_name,region\n")) as Box<dyn std::io::Read>),
            &[],
        )
        .unwrap();
        let w = rows.header_warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("`frist_name`") && w[0].contains("did you mean `first_name`?"), "{w:?}");
    }

    #[tokio::test]
    async fn every_bad_row_is_reported_not_only_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.csv");
        let mut csv = String::from("email,status\nok@x.test,new\nnot-an-address,new\nb@x.test,gone\n");
        for i in 0..30 {
            csv += &format!("bad{i},new\n");
        }
        std::fs::write(&path, csv).unwrap();
        let statuses = vec!["new".to_string()];
        let written = std::cell::Cell::new(0);
        let write = |_| {
            written.set(written.get() + 1);
            async { Ok::<(), String>(()) }
        };
        let e = import(&path, &statuses, write, |_| {}).await.unwrap_err();
        let ImportError::Invalid(d) = e else { panic!("invalid expected") };
        let text = d.to_string();
        assert!(text.contains(":3:1:") && text.contains(":4:1:") && text.contains("unknown status"), "{text}");
        assert_eq!(d.0.len(), MAX_REPORTED + 1, "{text}");
        assert!(text.contains("and 12 more bad row(s)"), "{text}");
        assert_eq!(written.get(), 0, "nothing written");
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
    fn a_latin1_file_is_rejected_at_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.csv");
        std::fs::write(&path, b"email,company\na@x.test,ok\nb@x.test,M\xfcller\n").unwrap();
        let statuses = statuses();
        let errors: Vec<_> = Rows::open(&path, &statuses).unwrap().filter_map(Result::err).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, 3);
        assert!(errors[0].1.contains("column 2 (`company`); save the file as UTF-8"), "{}", errors[0].1);
    }

    #[test]
    fn a_bad_row_rejects_the_file_with_its_line() {
        let cases = [
            ("email,status\na@x.test,new\nnot-an-email,new\n", 3, "not an email"),
            ("email,status\na@x.test,gone\n", 2, "unknown status"),
            ("email,timezone\na@x.test,Mars/Base\n", 2, "time zone"),
            ("email,status_changed_at\na@x.test,yesterday\n", 2, "RFC 3339"),
            ("name\nAna\n", 1, "no `email` column"),
            ("email,status\na@x.test,new,extra\n", 2, "bad CSV"),
            ("email\n\"hostile <0>\"@evil.example\n", 2, "not an email address nurture can mail"),
            ("email\na b@x.test\n", 2, "not an email address nurture can mail"),
        ];
        let long_name = format!("email,first_name\na@x.test,{}\n", "A".repeat(1200));
        let long_note = format!("email,note\na@x.test,{}\n", "n".repeat(MAX_ATTRIBUTE + 1));
        let long_address = format!("email\n{}@x.test\n", "a".repeat(250));
        let cases = cases.into_iter().chain([
            (long_name.as_str(), 2, "first_name is 1200 characters long; at most 100"),
            (long_note.as_str(), 2, "attribute \"note\" is 20001 characters long"),
            (long_address.as_str(), 2, "longer than 254 characters"),
        ]);
        for (csv, line, want) in cases {
            let (l, msg) = parse(csv, &statuses()).unwrap_err();
            assert_eq!(l, line, "{csv:?}: {msg}");
            assert!(msg.contains(want), "{csv:?}: {msg}");
        }
    }
}
