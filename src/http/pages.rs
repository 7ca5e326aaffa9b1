//! The pages behind links in emails. Plain HTML, no assets: they must work
//! in any mail client's browser.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;

use crate::daemon::{Current, current, now};
use crate::engine::{Answered, EngineError};

type Page = (StatusCode, Html<String>);

fn page(status: StatusCode, title: &str, body: &str) -> Page {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <link rel=\"icon\" href=\"data:,\"></head>\
         <body style=\"font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em\"><h1>{title}</h1>{body}</body></html>"
    );
    (status, Html(html))
}

fn not_found() -> Page {
    page(StatusCode::NOT_FOUND, "Link not valid", "<p>This link is not valid. Please use the link from your email.</p>")
}

fn unavailable() -> Page {
    page(StatusCode::SERVICE_UNAVAILABLE, "Try again later", "<p>We could not do this just now. Please try again.</p>")
}

/// GET: confirm first, so link scanners that prefetch URLs unsubscribe nobody.
pub async fn unsubscribe_page(State(engine): State<Current>, Path(token): Path<String>) -> Page {
    if current(&engine).links().unsubscribe_lead(&token).is_none() {
        return not_found();
    }
    let form = format!(
        "<p>Stop receiving these emails?</p><form method=\"post\" action=\"{token}\">\
         <button type=\"submit\">Unsubscribe</button></form>"
    );
    page(StatusCode::OK, "Unsubscribe", &form)
}

/// POST: the confirm button, or a mail client's RFC 8058 one-click request
/// (body `List-Unsubscribe=One-Click`); either way the address is suppressed.
pub async fn unsubscribe(State(engine): State<Current>, Path(token): Path<String>) -> Page {
    let e = current(&engine);
    let Some(lead_id) = e.links().unsubscribe_lead(&token) else { return not_found() };
    match e.unsubscribe(lead_id, now()).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(),
        Err(EngineError::Saved(why)) => {
            tracing::error!(lead_id, error = why, "Unsubscribed, but ending enrolments failed; the next step will.");
        }
        Err(_) => return unavailable(),
    }
    tracing::info!(lead_id, "Unsubscribed.");
    page(StatusCode::OK, "You are unsubscribed", "<p>You will not receive these emails again.</p>")
}

/// GET: the task and a confirm button. A GET changes nothing: corporate
/// mail scanners open every link in a message before the rep does, and a
/// task closed by a scanner is a lead neglected.
pub async fn task_page(State(engine): State<Current>, Path(token): Path<String>) -> Page {
    let e = current(&engine);
    let Some(task_id) = e.links().done_task(&token) else { return not_found() };
    match e.store().task(task_id).await {
        Ok(Some(t)) if t.done_at.is_some() => already_done(),
        Ok(Some(t)) => {
            let lead =
                if t.company.is_empty() { t.lead_name.clone() } else { format!("{} ({})", t.lead_name, t.company) };
            let body = format!(
                "<p><strong>{}</strong></p><p>{} &lt;{}&gt;</p><form method=\"post\" action=\"done\">\
                 <button type=\"submit\">Mark as done</button></form>",
                escape(&t.text),
                escape(&lead),
                escape(&t.lead_email)
            );
            page(StatusCode::OK, "Task", &body)
        }
        Ok(None) => not_found(),
        Err(_) => unavailable(),
    }
}

/// POST: the confirm button.
pub async fn task_done(State(engine): State<Current>, Path(token): Path<String>) -> Page {
    let e = current(&engine);
    let Some(task_id) = e.links().done_task(&token) else { return not_found() };
    match e.task_done(task_id, crate::store::Source::Link, now()).await {
        Ok(Some((_, true))) => {
            tracing::info!(task = task_id, "Task done.");
            page(StatusCode::OK, "Task done", "<p>Marked as done. Thank you.</p>")
        }
        Ok(Some((_, false))) => already_done(),
        Ok(None) => not_found(),
        Err(_) => unavailable(),
    }
}

/// GET: the answer's label and one button. A GET answers nothing: a link
/// scanner opening every link of an email must not say "ready" for a lead.
pub async fn answer_page(State(engine): State<Current>, Path(token): Path<String>) -> Page {
    let e = current(&engine);
    let Some(t) = e.links().answer(&token) else { return not_found() };
    let Some(a) = e.defs().config.answers.iter().find(|a| a.name == t.answer) else { return no_longer() };
    let body = format!(
        "<p>One click sends it:</p><form method=\"post\" action=\"{}\"><button type=\"submit\" \
         style=\"font-size:1.2em;padding:.5em 1em\">{}</button></form>",
        escape(token.trim_end_matches('.')),
        escape(&a.label)
    );
    page(StatusCode::OK, "Your answer", &body)
}

/// POST: the button. Recorded once per email and answer; a repeat says so.
pub async fn answer(State(engine): State<Current>, Path(token): Path<String>) -> Page {
    let e = current(&engine);
    let Some(t) = e.links().answer(&token) else { return not_found() };
    match e.answer(&t, now()).await {
        Ok(Answered::Recorded(a)) => {
            tracing::info!(lead_id = t.lead_id, answer = a.name, "Answer recorded.");
            page(StatusCode::OK, "Thank you", &format!("<p>{}</p>", thanks(&a)))
        }
        Ok(Answered::Again(a)) => page(
            StatusCode::OK,
            "Thank you",
            &format!("<p>We already have this answer: &ldquo;{}&rdquo;.</p>", escape(&a.label)),
        ),
        Ok(Answered::Unknown) => no_longer(),
        Err(EngineError::Saved(why)) => {
            tracing::error!(lead_id = t.lead_id, error = why, "Answer recorded, but what follows failed; retried.");
            page(StatusCode::OK, "Thank you", "<p>Your answer is recorded.</p>")
        }
        Err(_) => unavailable(),
    }
}

/// What the lead reads once its answer is in.
fn thanks(a: &crate::config::Answer) -> String {
    if a.handoff {
        "Someone from our team will be in touch with you shortly.".into()
    } else if let Some(p) = a.pause {
        let days = p.num_days();
        let when = if days >= 60 { format!("{} months", days / 30) } else { format!("{days} days") };
        format!("We will not write again for {when}.")
    } else if a.status.is_some() {
        "Thanks for letting us know. We will not write to you about this again.".into()
    } else {
        format!("Your answer is recorded: &ldquo;{}&rdquo;.", escape(&a.label))
    }
}

fn no_longer() -> Page {
    page(
        StatusCode::NOT_FOUND,
        "Link no longer valid",
        "<p>This answer can no longer be given. Thank you all the same.</p>",
    )
}

fn already_done() -> Page {
    page(StatusCode::OK, "Task done", "<p>This task was already marked as done.</p>")
}

fn escape(text: &str) -> String {
    handlebars::html_escape(text)
}
