//! Console sessions and the tokens around them. A login stores a session
//! server-side (`store::sessions`) under the SHA-256 of a random secret;
//! the cookie holds the secret (`HttpOnly`, `SameSite=Strict`, `Secure`
//! behind https), so logging out or leaving the users file ends it at once.
//! Every form carries a CSRF token, a MAC of the session it belongs to
//! under a key derived from the link secret; the login form's is a MAC of
//! a random visitor cookie set with the form, so it differs per visitor.

use chrono::TimeDelta;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "nurture_console";
/// The visitor cookie the login form's CSRF token is bound to.
pub const VISITOR: &str = "nurture_login";

/// How long a login lasts.
pub const LIFETIME: TimeDelta = TimeDelta::hours(12);

#[derive(Clone)]
pub struct Sessions {
    key: Vec<u8>,
    secure: bool,
}

/// A fresh random secret: a cookie's value.
pub fn secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source");
    crate::hex::encode(&bytes)
}

/// What the database keeps of a session cookie's value.
pub fn id(value: &str) -> String {
    crate::hex::encode(&Sha256::digest(value.as_bytes()))
}

impl Sessions {
    pub fn new(key: Vec<u8>, secure: bool) -> Sessions {
        Sessions { key, secure }
    }

    fn mac(&self, what: &str) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        m.update(what.as_bytes());
        m
    }

    fn verify(&self, what: &str, tag: &str) -> bool {
        let Some(bytes) = crate::hex::decode(tag) else { return false };
        self.mac(what).verify_slice(&bytes).is_ok()
    }

    /// The CSRF token of a session's forms.
    pub fn csrf(&self, value: &str) -> String {
        crate::hex::encode(&self.mac(&format!("csrf|{value}")).finalize().into_bytes())
    }

    pub fn csrf_ok(&self, value: &str, token: &str) -> bool {
        self.verify(&format!("csrf|{value}"), token)
    }

    /// The login form's token for the visitor cookie `visitor`.
    pub fn login_token(&self, visitor: &str) -> String {
        crate::hex::encode(&self.mac(&format!("login|{visitor}")).finalize().into_bytes())
    }

    pub fn login_token_ok(&self, visitor: &str, token: &str) -> bool {
        !visitor.is_empty() && self.verify(&format!("login|{visitor}"), token)
    }

    fn cookie(&self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }

    pub fn set_cookie(&self, value: &str) -> String {
        self.cookie(COOKIE, value, LIFETIME.num_seconds())
    }

    pub fn clear_cookie(&self) -> String {
        self.cookie(COOKIE, "", 0)
    }

    /// The visitor cookie sent with the login form (an hour to fill it in).
    pub fn visitor_cookie(&self, visitor: &str) -> String {
        self.cookie(VISITOR, visitor, 3600)
    }

    pub fn clear_visitor_cookie(&self) -> String {
        self.cookie(VISITOR, "", 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_their_session_or_visitor_and_forgeries_fail() {
        let s = Sessions::new(b"key".to_vec(), true);
        let (a, b) = (secret(), secret());
        assert_ne!(a, b, "secrets are random");
        assert_eq!(id(&a).len(), 64);
        assert_ne!(id(&a), a, "the database never holds the cookie itself");
        assert!(s.csrf_ok(&a, &s.csrf(&a)));
        assert!(!s.csrf_ok(&b, &s.csrf(&a)), "another session's token");
        assert_ne!(s.login_token(&a), s.login_token(&b), "a login token per visitor");
        assert!(s.login_token_ok(&a, &s.login_token(&a)));
        assert!(!s.login_token_ok(&b, &s.login_token(&a)));
        assert!(!s.login_token_ok("", &s.login_token("")), "no visitor cookie, no login");
        assert!(!Sessions::new(b"other".to_vec(), true).csrf_ok(&a, &s.csrf(&a)), "another key");
        let c = s.set_cookie(&a);
        assert!(c.contains("HttpOnly; SameSite=Strict") && c.ends_with("Secure"), "{c}");
    }
}
