//! `simulate --events FILE`: what leads do on the virtual clock, one JSON
//! object per line, `{"at", "lead", "type", ...}` (README, *Commands*):
//! `click` (`url`, optional `head` for a machine's), `answer` (`answer`),
//! `replied`, or any other named event (`name`), applied where the daemon
//! would apply them, so marketing can try `[scoring]` and `[handoff]`
//! before going live.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::Digest;

use super::Failure;
use crate::engine::Engine;
use crate::links::{AnswerToken, ClickToken};
use crate::store::{Click, Source};

/// One line of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Happening {
    pub at: String,
    pub lead: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    /// `click`: the address clicked in the lead's last email.
    #[serde(default)]
    pub url: String,
    /// `click`: a HEAD request (a machine's click).
    #[serde(default)]
    pub head: bool,
    /// `answer`: the `[answers.NAME]` given from the lead's last email.
    #[serde(default)]
    pub answer: String,
}

/// The file's lines, each with when it happens, in time order (a stable
/// sort: the file's order within one instant). Errors name the line and
/// what to write.
pub fn read(path: &std::path::Path, answers: &[String]) -> Result<Vec<(DateTime<Utc>, Happening)>, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::Invalid(format!("--events {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at_line = |why: String| Failure::Invalid(format!("{}:{}: {why}", path.display(), i + 1));
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let h: Happening = serde_json::from_str(line).map_err(|e| {
            at_line(format!(
                "{e}; write one JSON object per line: {{\"at\": \"2026-03-02T10:00:00Z\", \"lead\": \"ana@x.test\", \
                 \"type\": \"click\", \"url\": \"https://...\"}} (types: click, answer, replied, or a named event with \"name\")"
            ))
        })?;
        let at = crate::import::parse_time(&h.at).map_err(|e| at_line(format!("at: {e}")))?;
        match h.kind.as_str() {
            "click" if !(h.url.starts_with("http://") || h.url.starts_with("https://")) => {
                return Err(at_line("a click needs \"url\": the http(s) address clicked".into()));
            }
            "answer" if !answers.contains(&h.answer) => {
                let hint = crate::fields::nearest(&h.answer, answers.iter().map(String::as_str), 3)
                    .map(|n| format!("did you mean {n:?}? "))
                    .unwrap_or_default();
                return Err(at_line(format!(
                    "answer {:?} is not one of [answers.*]; {hint}known: {}",
                    h.answer,
                    answers.join(", ")
                )));
            }
            "" => return Err(at_line("\"type\" is empty".into())),
            _ => {}
        }
        out.push((at, h));
    }
    out.sort_by_key(|(at, _)| *at);
    Ok(out)
}

/// A click's place in its email, for "once per link per email": the same
/// address is the same link.
fn link_of(url: &str) -> i64 {
    let d = sha2::Sha256::digest(url.as_bytes());
    i64::from_be_bytes(d[..8].try_into().unwrap_or_default()) & i64::MAX
}

/// Apply one happening at `at`; a lead unknown then, or without an email
/// to click or answer, is a warning and nothing happens.
pub async fn apply(engine: &Engine, h: &Happening, at: DateTime<Utc>) -> Result<(), crate::engine::EngineError> {
    let store = engine.store();
    let Some(lead) = store.lead_by_email(&h.lead).await? else {
        eprintln!("warning: {}: no such lead at {}; left out", h.lead, at.to_rfc3339());
        return Ok(());
    };
    match h.kind.as_str() {
        "replied" => drop(engine.replied(&lead.email, Source::Api, at).await?),
        "click" | "answer" => {
            let Some(delivery_id) = store.last_email(lead.id, at).await? else {
                eprintln!("warning: {}: no email sent by {} to {}; left out", h.lead, at.to_rfc3339(), h.kind);
                return Ok(());
            };
            if h.kind == "click" {
                // No link count: the burst rule needs the email's links,
                // which a simulated click does not know; HEAD marks a machine.
                let token = ClickToken { delivery_id, link: link_of(&h.url), links: 0, url: h.url.clone() };
                let window = engine.defs().config.tracking.scanner_window;
                store.record_click(&Click { token, at, head: h.head }, window).await?;
            } else {
                let token = AnswerToken { delivery_id, lead_id: lead.id, answer: h.answer.clone() };
                engine.answer(&token, at).await?;
            }
        }
        kind => drop(engine.event(&lead.email, kind, h.name.trim(), at).await?),
    }
    Ok(())
}
