//! Console sessions: a cookie holding the user and an expiry, signed with
//! a key derived from the link secret (a forged or altered cookie is no
//! session), `HttpOnly`, `SameSite=Strict`, `Secure` behind https; and
//! the CSRF token every form carries, a MAC of the session it belongs to.

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const COOKIE: &str = "nurture_console";

/// How long a login lasts.
const LIFETIME: TimeDelta = TimeDelta::hours(12);

#[derive(Clone)]
pub struct Sessions {
    key: Vec<u8>,
    secure: bool,
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

    /// A cookie value for `user`, valid until `now` + 12 h.
    pub fn issue(&self, user: &str, now: DateTime<Utc>) -> String {
        let until = (now + LIFETIME).timestamp();
        let tag = crate::hex::encode(&self.mac(&format!("session|{user}|{until}")).finalize().into_bytes());
        format!("{user}|{until}|{tag}")
    }

    /// The user of a valid, unexpired cookie value.
    pub fn user(&self, value: &str, now: DateTime<Utc>) -> Option<String> {
        let mut parts = value.rsplitn(3, '|');
        let (tag, until, user) = (parts.next()?, parts.next()?, parts.next()?);
        let expires: i64 = until.parse().ok()?;
        (expires > now.timestamp() && self.verify(&format!("session|{user}|{until}"), tag)).then(|| user.to_string())
    }

    /// The CSRF token of a session's forms.
    pub fn csrf(&self, value: &str) -> String {
        crate::hex::encode(&self.mac(&format!("csrf|{value}")).finalize().into_bytes())
    }

    pub fn csrf_ok(&self, value: &str, token: &str) -> bool {
        self.verify(&format!("csrf|{value}"), token)
    }

    /// The login form's token: not tied to a session (there is none yet),
    /// it still proves the form came from this console.
    pub fn login_token(&self) -> String {
        self.csrf("login")
    }

    pub fn set_cookie(&self, value: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME.num_seconds()
        )
    }

    pub fn clear_cookie(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }
}

#[cfg(test)]
mod tests {
    use super::Sessions;
    use chrono::{TimeDelta, Utc};

    #[test]
    fn a_session_holds_until_it_expires_and_a_forgery_never_does() {
        let s = Sessions::new(b"key".to_vec(), true);
        let now = Utc::now();
        let v = s.issue("mia", now);
        assert_eq!(s.user(&v, now).as_deref(), Some("mia"));
        assert_eq!(s.user(&v, now + TimeDelta::hours(13)), None, "expired");
        assert_eq!(s.user(&v.replace("mia", "bob"), now), None, "another user");
        assert_eq!(Sessions::new(b"other".to_vec(), true).user(&v, now), None, "another key");
        assert!(s.csrf_ok(&v, &s.csrf(&v)));
        assert!(!s.csrf_ok(&s.issue("bob", now), &s.csrf(&v)));
        assert!(s.set_cookie(&v).contains("HttpOnly; SameSite=Strict") && s.set_cookie(&v).ends_with("Secure"));
    }
}
