//! The console's HTML: one layout (readable on a phone, no JavaScript) and
//! a function per page, text escaped on the way in.

use crate::report::Report;
use crate::store::TaskRow;
use crate::template::context::rfc3339;

/// Text into HTML: the escaping the templates already use (`&`, `<`, `>`,
/// `"`, `'`, `` ` ``, `=` as entities).
pub use handlebars::html_escape as esc;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#222}\
nav{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;border-bottom:1px solid #ddd;padding-bottom:.5rem}\
nav form{margin-left:auto}table{border-collapse:collapse;margin:.5rem 0 1.5rem;width:100%}\
th,td{padding:.25rem .5rem;border-bottom:1px solid #eee;text-align:right}th:first-child,td:first-child{text-align:left}\
.wrap{overflow-x:auto}pre{white-space:pre-wrap;background:#f7f7f7;padding:.75rem}\
input,button{font-size:1rem;padding:.4rem}.error{color:#a00}";

/// A page for a signed-in user; `csrf` goes into the logout form.
pub fn layout(title: &str, user: &str, csrf: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · nurture</title><style>{STYLE}</style></head><body>\
         <nav><strong>nurture</strong><a href=\"/console\">Campaigns</a><a href=\"/console/lead\">Leads</a>\
         <a href=\"/console/tasks\">Tasks</a>\
         <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{c}\">\
         <span>{u}</span> <button type=\"submit\">Log out</button></form></nav>\
         <h1>{t}</h1>{body}</body></html>",
        t = esc(title),
        u = esc(user),
        c = esc(csrf),
    )
}

pub fn login(token: &str, error: Option<&str>) -> String {
    let error = error.map(|e| format!("<p class=\"error\">{}</p>", esc(e))).unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Log in · nurture</title><style>{STYLE}</style></head><body><h1>nurture</h1>{error}\
         <form method=\"post\" action=\"/console/login\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <p><label>Name<br><input name=\"name\" autocomplete=\"username\" required></label></p>\
         <p><label>Password<br><input name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         </label></p><p><button type=\"submit\">Log in</button></p></form></body></html>",
        esc(token)
    )
}

/// Each campaign's funnel, step by step.
pub fn campaigns(r: &Report) -> String {
    let mut out =
        format!("<p>Since {}. Conversions: entering {}.</p>", esc(&rfc3339(r.since)), esc(&r.goal.join(" or ")));
    if r.campaigns.is_empty() {
        out += "<p>No campaign activity in this period.</p>";
    }
    for c in &r.campaigns {
        let name = if c.name.is_empty() { "(no longer defined)" } else { &c.name };
        out += &format!("<h2>{} <small>{}</small></h2><p>{} enrolled</p>", esc(name), esc(&c.campaign), c.enrolled);
        out += "<div class=\"wrap\"><table><tr><th>Step</th><th>Reached</th><th>Sent</th><th>Bounced</th>\
                <th>Unsubscribed</th><th>Complaints</th><th>Replied</th><th>Auto-replies</th><th>Converted</th></tr>";
        for s in &c.steps {
            out += &format!(
                "<tr><td>{} <small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(&s.step),
                esc(&s.kind),
                s.reached,
                s.sent,
                s.bounced,
                s.unsubscribed,
                s.complaints,
                s.replied,
                s.auto_replies,
                s.converted
            );
        }
        out += "</table></div>";
    }
    out
}

/// The search form, and the explanation of the lead found.
pub fn lead(email: &str, explained: Option<&str>) -> String {
    let mut out = format!(
        "<form method=\"get\" action=\"/console/lead\"><label>Email <input name=\"email\" type=\"email\" value=\"{}\" \
         required></label> <button type=\"submit\">Explain</button></form>",
        esc(email)
    );
    match explained {
        Some(text) => out += &format!("<pre>{}</pre>", esc(text)),
        None if !email.is_empty() => out += &format!("<p class=\"error\">No lead {}.</p>", esc(email)),
        None => {}
    }
    out
}

/// Open tasks, each with its done link.
pub fn tasks(tasks: &[(TaskRow, String)]) -> String {
    if tasks.is_empty() {
        return "<p>No open tasks.</p>".into();
    }
    let mut out =
        String::from("<div class=\"wrap\"><table><tr><th>Task</th><th>Rep</th><th>Lead</th><th>Due</th><th></th></tr>");
    for (t, done) in tasks {
        out += &format!(
            "<tr><td>{}</td><td>{}</td><td><a href=\"/console/lead?email={}\">{}</a></td><td>{}</td>\
             <td><a href=\"{}\">Done</a></td></tr>",
            esc(&t.text),
            esc(&t.rep),
            percent_encoding::utf8_percent_encode(&t.lead_email, percent_encoding::NON_ALPHANUMERIC),
            esc(&t.lead_email),
            esc(&rfc3339(t.due_at)),
            esc(done)
        );
    }
    out + "</table></div>"
}
