//! Signed links put in emails: unsubscribe (`/u/TOKEN`) and task done
//! (`/t/TOKEN/done`). A token is the id and an HMAC-SHA256 of it, so a
//! forged or altered token is rejected without a database lookup.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct Links {
    base: String,
    /// The first signs; all verify (earlier keys after a rotation, so
    /// links in emails already sent keep working).
    keys: Vec<Vec<u8>>,
}

/// Kinds are part of what is signed, so a task token is not an
/// unsubscribe token.
const UNSUBSCRIBE: &str = "u";
const TASK: &str = "t";

impl Links {
    pub fn new(public_url: &str, key: &[u8]) -> Links {
        Links { base: public_url.trim_end_matches('/').to_string(), keys: vec![key.to_vec()] }
    }

    /// Also accept links signed with these earlier keys.
    pub fn with_previous(mut self, keys: Vec<Vec<u8>>) -> Links {
        self.keys.extend(keys);
        self
    }

    fn sign(&self, kind: &str, id: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.keys[0]).expect("HMAC takes any key length");
        mac.update(format!("{kind}:{id}").as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(&tag[..16]))
    }

    fn verify(&self, kind: &str, token: &str) -> Option<i64> {
        let (id, tag) = token.split_once('.')?;
        let id: i64 = id.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok().filter(|t| t.len() == 16)?;
        // Constant-time per key (`verify_truncated_left`).
        let signed_by = |key: &Vec<u8>| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { return false };
            mac.update(format!("{kind}:{id}").as_bytes());
            mac.verify_truncated_left(&tag).is_ok()
        };
        self.keys.iter().any(signed_by).then_some(id)
    }

    pub fn unsubscribe_url(&self, lead_id: i64) -> String {
        format!("{}/u/{}", self.base, self.sign(UNSUBSCRIBE, lead_id))
    }

    pub fn task_done_url(&self, task_id: i64) -> String {
        format!("{}/t/{}/done", self.base, self.sign(TASK, task_id))
    }

    pub fn unsubscribe_lead(&self, token: &str) -> Option<i64> {
        self.verify(UNSUBSCRIBE, token)
    }

    pub fn done_task(&self, token: &str) -> Option<i64> {
        self.verify(TASK, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        let links = Links::new("https://n.example/", b"secret");
        let url = links.unsubscribe_url(42);
        let token = url.strip_prefix("https://n.example/u/").unwrap();
        assert_eq!(links.unsubscribe_lead(token), Some(42));
        assert_eq!(links.done_task(token), None, "kinds are not interchangeable");
        assert_eq!(links.unsubscribe_lead(&token.replacen("42", "43", 1)), None);
        assert_eq!(Links::new("x", b"other").unsubscribe_lead(token), None);
        assert_eq!(links.unsubscribe_lead("42"), None);
        assert_eq!(links.unsubscribe_lead("42.AAAA"), None);
    }

    #[test]
    fn after_a_rotation_old_links_still_work_and_new_ones_use_the_new_key() {
        let old = Links::new("https://n.example", b"old");
        let sent_before = old.unsubscribe_url(7).rsplit('/').next().unwrap().to_string();
        let rotated = Links::new("https://n.example", b"new").with_previous(vec![b"old".to_vec()]);
        assert_eq!(rotated.unsubscribe_lead(&sent_before), Some(7), "a link already in an inbox");
        let sent_after = rotated.unsubscribe_url(7).rsplit('/').next().unwrap().to_string();
        assert_ne!(sent_after, sent_before, "new links are signed with the new key");
        assert_eq!(Links::new("https://n.example", b"new").unsubscribe_lead(&sent_before), None, "once dropped, gone");
    }
}
