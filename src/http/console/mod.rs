//! The read-only web console at `/console` (when `[http]
//! console_users_file` is set; else 404): campaigns' funnels, a lead's
//! explanation, reps' open tasks. Server-rendered, usable without
//! JavaScript; behind a login (Argon2 password hashes, sessions kept by
//! the server, CSRF tokens on every form, logins limited per address and
//! per user). The users file is read again on reload (SIGHUP): a removed
//! user's sessions end at their next request.

mod chart;
mod pages;
pub mod session;
mod throttle;
pub mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::AppState;
use crate::daemon::{current, now};
pub use session::Sessions;
pub use users::Users;

/// Days the forecast chart looks ahead.
const FORECAST_DAYS: u32 = 14;

/// When a forecast was computed, and its emails per day.
type Forecast = (DateTime<Utc>, Vec<(NaiveDate, i64)>);

pub struct Console {
    /// The users file, read again by [`Console::reload_users`].
    path: PathBuf,
    users: RwLock<Users>,
    pub sessions: Sessions,
    throttle: throttle::Throttle,
    /// Emails per day over the next 14 days, and when that was computed.
    forecast: Mutex<Option<Forecast>>,
}

impl Console {
    pub fn new(path: PathBuf, users: Users, sessions: Sessions) -> Console {
        Console {
            path,
            users: RwLock::new(users),
            sessions,
            throttle: throttle::Throttle::default(),
            forecast: Mutex::new(None),
        }
    }

    fn users(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Read the users file again (on reload); a file with errors keeps the
    /// users in force, and says so.
    pub fn reload_users(&self) {
        match Users::load(&self.path) {
            Ok(users) => {
                tracing::info!(users = users.len(), "Console users reloaded.");
                if let Ok(mut u) = self.users.write() {
                    *u = users;
                }
            }
            Err(e) => tracing::error!(error = e, "Console users not reloaded; the previous ones stay in force."),
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
    /// The sessions cannot be read.
    Unavailable(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Off => StatusCode::NOT_FOUND.into_response(),
            Refused::SignIn => Redirect::to("/console/login").into_response(),
            Refused::Unavailable(e) => unavailable(e),
        }
    }
}

/// A signed-in request: the console, the user and the session's cookie
/// value. Any handler taking it is behind the login: the session exists
/// server-side, has not expired, and its user is still in the users file.
struct Signed {
    console: Arc<Console>,
    user: String,
    value: String,
}

impl axum::extract::FromRequestParts<AppState> for Signed {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Signed, Refused> {
        let Some(console) = state.console.clone() else { return Err(Refused::Off) };
        let Some(value) = cookie(&parts.headers, session::COOKIE).filter(|v| !v.is_empty()) else {
            return Err(Refused::SignIn);
        };
        let store = current(&state.engine).store().clone();
        match store.session_user(&session::id(&value), now()).await {
            Ok(Some(user)) if console.users().has(&user) => Ok(Signed { console, user, value }),
            Ok(Some(user)) => {
                tracing::info!(user, "Console session ended: the user is no longer in the users file.");
                let _ = store.end_session(&session::id(&value)).await;
                Err(Refused::SignIn)
            }
            Ok(None) => Err(Refused::SignIn),
            Err(e) => Err(Refused::Unavailable(e.to_string())),
        }
    }
}

impl Signed {
    fn page(&self, page: &str, title: &str, data: &serde_json::Value) -> Response {
        let html = pages::signed(page, title, &self.user, &self.console.sessions.csrf(&self.value), data);
        ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
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
    match tokio::try_join!(e.store().ready_now(), e.store().open_tasks(None)) {
        Ok((ready, open)) => {
            let ready: Vec<_> = ready
                .into_iter()
                .map(|(t, why)| {
                    let done = e.links().task_done_url(t.id);
                    (t, done, why)
                })
                .collect();
            let rows: Vec<_> = open
                .into_iter()
                .map(|t| {
                    let done = e.links().task_done_url(t.id);
                    (t, done)
                })
                .collect();
            signed.page("tasks", "Ready now and open tasks", &pages::tasks(&ready, &rows))
        }
        Err(err) => unavailable(err),
    }
}

/// The login form, with a fresh visitor cookie its CSRF token is bound to.
fn login_form(console: &Console, status: StatusCode, error: Option<&str>) -> Response {
    let visitor = session::secret();
    let html = pages::login(&console.sessions.login_token(&visitor), error);
    (status, [(header::SET_COOKIE, console.sessions.visitor_cookie(&visitor))], Html(html)).into_response()
}

async fn login_page(State(state): State<AppState>) -> Response {
    let Some(console) = state.console.clone() else { return StatusCode::NOT_FOUND.into_response() };
    login_form(&console, StatusCode::OK, None)
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

fn too_many(wait: std::time::Duration) -> Response {
    let retry = wait.as_secs().max(1).to_string();
    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", retry)], "Too many login attempts; try again shortly.\n")
        .into_response()
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let Some(console) = state.console.clone() else { return StatusCode::NOT_FOUND.into_response() };
    let name = f.name.trim().to_string();
    let client = state.clients.address(peer, &headers);
    if !console.throttle.addresses.take(client, Instant::now()) {
        tracing::warn!(%client, "Console login refused: too many attempts from this address.");
        return too_many(std::time::Duration::from_secs_f64(1.0 / throttle::ADDRESS_RATE));
    }
    if let Some(wait) = console.throttle.locked(&name, Instant::now()) {
        tracing::warn!(user = name, wait_s = wait.as_secs(), "Console login refused: too many failures for this user.");
        return too_many(wait);
    }
    let visitor = cookie(&headers, session::VISITOR).unwrap_or_default();
    if !console.sessions.login_token_ok(&visitor, &f.csrf) {
        return login_form(&console, StatusCode::FORBIDDEN, Some("The form expired; try again."));
    }
    // Argon2 is slow on purpose: off the async threads.
    let (c, user, password) = (console.clone(), name.clone(), f.password);
    let ok = tokio::task::spawn_blocking(move || c.users().check(&user, &password)).await.unwrap_or(false);
    if !ok {
        console.throttle.failed(&name, Instant::now());
        tracing::warn!(user = name, %client, "Console login refused.");
        return login_form(&console, StatusCode::UNAUTHORIZED, Some("Wrong name or password."));
    }
    console.throttle.succeeded(&name);
    let value = session::secret();
    let t = now();
    let store = current(&state.engine).store().clone();
    if let Err(e) = store.create_session(&session::id(&value), &name, t, t + session::LIFETIME).await {
        return unavailable(e);
    }
    tracing::info!(user = name, "Console login.");
    let mut response = Redirect::to("/console").into_response();
    let h = response.headers_mut();
    for c in [console.sessions.set_cookie(&value), console.sessions.clear_visitor_cookie()] {
        if let Ok(v) = header::HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    Signed { console, value, user }: Signed,
    Form(f): Form<CsrfForm>,
) -> Response {
    if !console.sessions.csrf_ok(&value, &f.csrf) {
        return (StatusCode::FORBIDDEN, "The form expired; go back and try again.\n").into_response();
    }
    if let Err(e) = current(&state.engine).store().end_session(&session::id(&value)).await {
        return unavailable(e);
    }
    tracing::info!(user, "Console logout.");
    (
        StatusCode::SEE_OTHER,
        [(header::SET_COOKIE, console.sessions.clear_cookie()), (header::LOCATION, "/console/login".into())],
    )
        .into_response()
}
