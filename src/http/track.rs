//! `GET /c/{token}`: a tracked link. The redirect goes out at once (302
//! to the exact target the email linked to); the click is queued for the
//! click writer (`clicks.rs`), which stores it with the machine rules (README,
//! *Readiness and hand-off*). A forged or truncated token gets 404 and no
//! redirect; a forgotten lead's link redirects and records nothing.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::clicks::Clicks;
use crate::daemon::{Current, current, now};
use crate::links::DECOY;
use crate::store::Click;

pub async fn click(
    State(engine): State<Current>,
    State(clicks): State<Clicks>,
    method: Method,
    Path(token): Path<String>,
) -> Response {
    let Some(token) = current(&engine).links().click(&token) else {
        return (StatusCode::NOT_FOUND, "This link is not valid.\n").into_response();
    };
    let decoy = token.link == DECOY;
    let location = location(&token.url);
    clicks.add(&engine, Click { token, at: now(), head: method == Method::HEAD });
    if decoy || location.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    (StatusCode::FOUND, [(header::LOCATION, location), (header::CACHE_CONTROL, "no-store".into())]).into_response()
}

/// The target as a `Location` header carries it: exactly as written,
/// except bytes a header cannot hold (non-ASCII, spaces, controls), which
/// are percent-encoded as a browser encodes them when following the link.
fn location(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_graphic() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_location_keeps_the_target_and_encodes_what_a_header_cannot_hold() {
        assert_eq!(super::location("https://x.example/p?a=1&b=[2]%41#f"), "https://x.example/p?a=1&b=[2]%41#f");
        assert_eq!(super::location("https://x.example/caf\u{e9} x"), "https://x.example/caf%C3%A9%20x");
    }
}
