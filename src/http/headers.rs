//! What every response carries, and what a handler's panic becomes.
//! Nothing nurture serves may be framed by another site (clickjacking a
//! confirm button), sniffed as another type, cached (a lead's data, a
//! task's page, a session's page: by a browser or a proxy in between) or
//! leak its URL, whose path holds a signed token, to another site. A
//! handler that panics answers 500 and is counted (task `http`); the
//! connection and the server go on.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn guard(request: Request, next: Next) -> Response {
    let mut response = match crate::daemon::supervise::caught(next.run(request)).await {
        Ok(r) => r,
        Err(panic) => {
            crate::telemetry::task_panic("http");
            tracing::error!(task = "http", panic, "A request handler panicked; answered 500.");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error; it was logged.\n").into_response()
        }
    };
    let h = response.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'"));
    }
    response
}
