//! `Nurture-Signature: t=UNIX,v1=HEX(HMAC-SHA256(secret, "t.body"))`: the
//! time is signed with the body, so a receiver can refuse a replay older
//! than it tolerates (README, *Webhooks*, with a Python and a shell check).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header's value for `body` sent at `t` (Unix seconds).
pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", crate::hex::encode(&mac.finalize().into_bytes()))
}

/// A webhook's secret as read from its `secret_file`: the file's text
/// without the line end an editor adds; why not.
pub fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(s.trim().as_bytes().to_vec()),
        Err(e) => Err(format!("webhook secret_file {}: {e}", path.display())),
    }
}

/// The headers of a webhook request for event `uid` of type `kind`:
/// `Nurture-Event-Id`, `Nurture-Event-Type`, and with a secret
/// `Nurture-Signature` of `body` at `t`.
pub fn headers(uid: &str, kind: &str, secret: Option<&[u8]>, t: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let mut h = vec![("Nurture-Event-Id", uid.to_string()), ("Nurture-Event-Type", kind.to_string())];
    if let Some(secret) = secret {
        h.push(("Nurture-Signature", signature(secret, t, body)));
    }
    h
}

/// Whether `header` signs `body` with `secret` (what a receiver does; the
/// tests' receiver uses it), comparing in constant time.
pub fn verify(secret: &[u8], header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = crate::hex::decode(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value Python's `hmac.new(b"whsec_test", b'1767225600.{"id":"evt_1"}',
    /// hashlib.sha256).hexdigest()` gives: the README's check agrees.
    #[test]
    fn the_signature_is_what_the_readme_check_computes() {
        let body = br#"{"id":"evt_1"}"#;
        let s = signature(b"whsec_test", 1_767_225_600, body);
        assert_eq!(s, "t=1767225600,v1=45b40331de0325606dc5400202ade162460fbe48daf9401adfdcd0d7b4f35470");
        assert!(verify(b"whsec_test", &s, body));
        assert!(!verify(b"whsec_test", &s, br#"{"id":"evt_2"}"#), "another body");
        assert!(!verify(b"other", &s, body), "another secret");
        assert!(!verify(b"whsec_test", &s.replace("t=1767225600", "t=1767225601"), body), "another time");
        assert!(!verify(b"whsec_test", "v1=zz", body));
    }
}
