//! The read-only web console at `/console` (when `[http]
//! console_users_file` is set; else 404): campaigns' funnels, a lead's
//! explanation, reps' open tasks. Server-rendered, usable without
//! JavaScript; behind a login (Argon2 password hashes, a signed session
//! cookie, CSRF tokens on every form, a rate-limited login).

mod chart;
mod pages;
pub mod session;
pub mod users;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Form;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::AppState;
use super::limit::Bucket;
use crate::daemon::{current, now};
pub use session::Sessions;
pub use users::Users;

/// Login attempts per second for everyone together, and the burst: a
/// person never notices, a password guesser gets a few a second.
const LOGIN_RATE: f64 = 2.0;
const LOGIN_BURST: f64 = 10.0;

/// Days the forecast chart looks ahead.
const FORECAST_DAYS: u32 = 14;

/// When a forecast was computed, and its emails per day.
type Forecast = (DateTime<Utc>, Vec<(NaiveDate, i64)>);

pub struct Console {
    pub users: Users,
    pub sessions: Sessions,
    logins: Mutex<Bucket>,
    /// Emails per day over the next 14 days, and when that was computed.
    forecast: Mutex<Option<Forecast>>,
}

impl Console {
    pub fn new(users: Users, sessions: Sessions) -> Console {
        Console {
            users,
            sessions,
            logins: Mutex::new(Bucket::new(LOGIN_RATE, LOGIN_BURST, Instant::now())),
            forecast: Mutex::new(None),
        }
    }
}

/// Keep the console's forecast fresh: computed at start and every hour
/// (a forecast copies the database into a scratch one: too slow for a
/// page load on a large database).
pub async fn forecasts(console: Arc<Console>, engine: crate::daemon::Current) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        let t = now();
        match crate::forecast::forecast(&current(&engine), FORECAST_DAYS, t).await {
            Ok(counts) => {
                let mut days: std::collections::BTreeMap<NaiveDate, i64> = Default::default();
                for ((day, _, _, kind), n) in counts {
                    if let (Ok(d), "email") = (NaiveDate::parse_from_str(&day, "%Y-%m-%d"), kind.as_str()) {
                        *days.entry(d).or_default() += n as i64;
                    }
                }
                if let Ok(mut f) = console.forecast.lock() {
                    *f = Some((t, days.into_iter().collect()));
                }
            }
            Err(e) => tracing::warn!(error = %e, "The console's forecast failed; trying again in an hour."),
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(campaigns))
        .route("/console/lead", get(lead))
        .route("/console/tasks", get(tasks))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
}

/// Why a request gets no page.
enum Refused {
    /// No console configured.
    Off,
    /// No valid session: to the login page.
    SignIn,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Off => StatusCode::NOT_FOUND.into_response(),
            Refused::SignIn => Redirect::to("/console/login").into_response(),
        }
    }
}

/// A signed-in request: the console, the user and the session's cookie
/// value. Any handler taking it is behind the login.
struct Signed {
    console: Arc<Console>,
    user: String,
    value: String,
}

impl axum::extract::FromRequestParts<AppState> for Signed {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Signed, Refused> {
        let Some(console) = state.console.clone() else { return Err(Refused::Off) };
        let value = cookie(&parts.headers).unwrap_or_default();
        match console.sessions.user(&value, now()) {
            Some(user) => Ok(Signed { console, user, value }),
            None => Err(Refused::SignIn),
        }
    }
}

impl Signed {
    fn page(&self, page: &str, title: &str, data: &serde_json::Value) -> Response {
        let html = pages::signed(page, title, &self.user, &self.console.sessions.csrf(&self.value), data);
        ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == session::COOKIE).then(|| v.to_string())
    })
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, format!("database unavailable: {e}\n")).into_response()
}

async fn campaigns(State(state): State<AppState>, signed: Signed) -> Response {
    let e = current(&state.engine);
    let t = now();
    let since = t - chrono::TimeDelta::days(30);
    let built = tokio::try_join!(
        crate::report::build(e.defs(), e.store().as_ref(), None, since, t),
        e.store().sends_per_day(since)
    );
    match built {
        Ok((r, days)) => {
            let sent = chart::per_day(&days, since.date_naive(), t.date_naive(), "emails sent");
            let ahead = signed.console.forecast.lock().ok().and_then(|f| f.clone()).map(|(at, days)| {
                let until = (at + chrono::TimeDelta::days(FORECAST_DAYS.into())).date_naive();
                (chart::per_day(&days, at.date_naive(), until, "emails due"), crate::template::context::rfc3339(at))
            });
            signed.page("campaigns", "Campaigns, last 30 days", &pages::campaigns(&r, &sent, ahead, FORECAST_DAYS))
        }
        Err(err) => unavailable(err),
    }
}

#[derive(Deserialize)]
struct LeadQuery {
    #[serde(default)]
    email: String,
}

async fn lead(State(state): State<AppState>, signed: Signed, Query(q): Query<LeadQuery>) -> Response {
    let email = q.email.trim().to_lowercase();
    let explained = match email.is_empty() {
        true => None,
        false => match current(&state.engine).explain(&email, None, now()).await {
            Ok(e) => e.map(|e| e.text()),
            Err(err) => return unavailable(err),
        },
    };
    signed.page("lead", "Leads", &pages::lead(&email, explained.as_deref()))
}

async fn tasks(State(state): State<AppState>, signed: Signed) -> Response {
    let e = current(&state.engine);
    match e.store().open_tasks(None).await {
        Ok(open) => {
            let rows: Vec<_> = open
                .into_iter()
                .map(|t| {
                    let done = e.links().task_done_url(t.id);
                    (t, done)
                })
                .collect();
            signed.page("tasks", "Open tasks", &pages::tasks(&rows))
        }
        Err(err) => unavailable(err),
    }
}

async fn login_page(State(state): State<AppState>) -> Response {
    let Some(console) = state.console.clone() else { return StatusCode::NOT_FOUND.into_response() };
    Html(pages::login(&console.sessions.login_token(), None)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(State(state): State<AppState>, Form(f): Form<LoginForm>) -> Response {
    let Some(console) = state.console.clone() else { return StatusCode::NOT_FOUND.into_response() };
    let allowed = console.logins.lock().map(|mut b| b.take(Instant::now())).unwrap_or(false);
    if !allowed {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "Too many login attempts; try again shortly.\n",
        )
            .into_response();
    }
    let token = console.sessions.login_token();
    if !console.sessions.csrf_ok("login", &f.csrf) {
        return (StatusCode::FORBIDDEN, Html(pages::login(&token, Some("The form expired; try again."))))
            .into_response();
    }
    // Argon2 is slow on purpose: off the async threads.
    let (c, name, password) = (console.clone(), f.name.trim().to_string(), f.password);
    let ok = tokio::task::spawn_blocking(move || c.users.check(&name, &password)).await.unwrap_or(false);
    if !ok {
        tracing::warn!(user = f.name.trim(), "Console login refused.");
        return (StatusCode::UNAUTHORIZED, Html(pages::login(&token, Some("Wrong name or password.")))).into_response();
    }
    let value = console.sessions.issue(f.name.trim(), now());
    tracing::info!(user = f.name.trim(), "Console login.");
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, console.sessions.set_cookie(&value)), (header::LOCATION, "/console".into())],
    )
        .into_response()
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(Signed { console, value, .. }: Signed, Form(f): Form<CsrfForm>) -> Response {
    if !console.sessions.csrf_ok(&value, &f.csrf) {
        return (StatusCode::FORBIDDEN, "The form expired; go back and try again.\n").into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, console.sessions.clear_cookie()), (header::LOCATION, "/console/login".into())],
    )
        .into_response()
}
