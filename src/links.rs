//! Signed links put in emails: unsubscribe (`/u/TOKEN`), task done
//! (`/t/TOKEN/done`), tracked links (`/c/TOKEN`: the email, the link and
//! its target) and answers (`/a/TOKEN`). A token is what it names and an
//! HMAC-SHA256 of it, so a forged or altered token is rejected without a
//! database lookup, and a click token cannot be made to redirect anywhere
//! its email did not link to.
//!
//! A delivery is named the same way in the Message-ID of its email
//! (`<d42.TAG@domain>`) and in its signed return path
//! (`bounces+d42.TAG@domain`), so a reply or a bounce finds its delivery
//! and a forged one finds nothing. That tag is lower-case hex, because
//! mail systems may change the case of an address's local part.

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
const DELIVERY: &str = "d";
const CLICK: &str = "c";
const ANSWER: &str = "a";

/// A tracked link's place in its email: the decoy (invisible, no person
/// clicks it) is -1.
pub const DECOY: i64 = -1;

/// What a click token names: the email, which of its links, how many it
/// has, and where the link goes (signed, so never an open redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickToken {
    pub delivery_id: i64,
    pub link: i64,
    pub links: i64,
    pub url: String,
}

/// What an answer token names: the email it came in, the lead, the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerToken {
    pub delivery_id: i64,
    pub lead_id: i64,
    pub answer: String,
}

impl Links {
    pub fn new(public_url: &str, key: &[u8]) -> Links {
        Links { base: public_url.trim_end_matches('/').to_string(), keys: vec![key.to_vec()] }
    }

    /// Also accept links signed with these earlier keys.
    pub fn with_previous(mut self, keys: Vec<Vec<u8>>) -> Links {
        self.keys.extend(keys);
        self
    }

    /// A key for another purpose (the console's sessions), derived from the
    /// signing key: rotating the link secret logs everyone out.
    pub fn derived_key(&self, purpose: &str) -> Vec<u8> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.keys[0]).expect("HMAC takes any key length");
        m.update(format!("key:{purpose}").as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    /// The keyed hashes an erased address is kept as (`leads forget`), one
    /// per key, the current key's first: after a rotation, addresses erased
    /// under the previous key are still recognised while it is listed.
    pub fn erasure_hashes(&self, email: &str) -> Vec<String> {
        let email = email.trim().to_lowercase();
        let hash = |key: &[u8]| {
            let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(format!("forget:{email}").as_bytes());
            crate::hex::encode(&m.finalize().into_bytes())
        };
        self.keys.iter().map(|k| hash(k)).collect()
    }

    /// The MAC of `kind:id` under the signing key (the first).
    fn tag(&self, kind: &str, id: i64) -> impl AsRef<[u8]> {
        mac(&self.keys[0], kind, id).finalize().into_bytes()
    }

    /// Whether `tag` is a (truncated) MAC of `kind:id` under any key.
    /// Constant-time per key (`verify_truncated_left`).
    fn signed(&self, kind: &str, id: i64, tag: &[u8]) -> bool {
        self.keys.iter().any(|key| mac(key, kind, id).verify_truncated_left(tag).is_ok())
    }

    fn sign(&self, kind: &str, id: i64) -> String {
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(&self.tag(kind, id).as_ref()[..16]))
    }

    fn verify(&self, kind: &str, token: &str) -> Option<i64> {
        let (id, tag) = token.split_once('.')?;
        let id: i64 = id.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok().filter(|t| t.len() == 16)?;
        self.signed(kind, id, &tag).then_some(id)
    }

    /// `d42.0123456789abcdef`: names delivery 42, signed.
    pub fn delivery_token(&self, delivery_id: i64) -> String {
        let tag = self.tag(DELIVERY, delivery_id);
        format!("d{delivery_id}.{}", crate::hex::encode(&tag.as_ref()[..8]))
    }

    /// The Message-ID of a delivery's email, angle brackets included.
    pub fn message_id(&self, delivery_id: i64, domain: &str) -> String {
        format!("<{}@{domain}>", self.delivery_token(delivery_id))
    }

    /// The signed envelope sender of a delivery's email, from the
    /// configured `bounces@domain`.
    pub fn return_path(&self, delivery_id: i64, base: &lettre::Address) -> String {
        format!("{}+{}@{}", base.user(), self.delivery_token(delivery_id), base.domain())
    }

    /// The deliveries named by valid tokens anywhere in `text` (a
    /// Message-ID, a return path, a report quoting either), first seen first.
    /// Walked char by char: the text is a stranger's, any char may stand
    /// next to a token.
    pub fn deliveries_in(&self, text: &str) -> Vec<i64> {
        let chars: Vec<char> = text.chars().collect();
        let mut found = vec![];
        for (i, c) in chars.iter().enumerate() {
            if !matches!(c, 'd' | 'D') || i.checked_sub(1).is_some_and(|p| chars[p].is_ascii_alphanumeric()) {
                continue;
            }
            let digits: String = chars[i + 1..].iter().take(19).take_while(|c| c.is_ascii_digit()).collect();
            let dot = i + 1 + digits.chars().count();
            if digits.is_empty() || digits.len() > 18 || chars.get(dot) != Some(&'.') {
                continue;
            }
            let hex: String = chars.iter().skip(dot + 1).take(16).collect();
            let after = chars.get(dot + 17);
            if hex.chars().count() != 16
                || !hex.chars().all(|c| c.is_ascii_hexdigit())
                || after.is_some_and(|c| c.is_ascii_alphanumeric())
            {
                continue;
            }
            let (Ok(id), Some(tag)) = (digits.parse::<i64>(), crate::hex::decode(&hex)) else { continue };
            if self.signed(DELIVERY, id, &tag) && !found.contains(&id) {
                found.push(id);
            }
        }
        found
    }

    /// The leads named by valid unsubscribe tokens in `text` (the links of
    /// our email, quoted in a reply or returned in a report).
    pub fn unsubscribed_leads_in(&self, text: &str) -> Vec<i64> {
        let needle = format!("{}/u/", self.base);
        let mut found = vec![];
        for (i, _) in text.match_indices(&needle) {
            let token: String = text
                .get(i + needle.len()..)
                .unwrap_or_default()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_')
                .collect();
            if let Some(id) = self.unsubscribe_lead(&token)
                && !found.contains(&id)
            {
                found.push(id);
            }
        }
        found
    }

    pub fn unsubscribe_url(&self, lead_id: i64) -> String {
        format!("{}/u/{}", self.base, self.sign(UNSUBSCRIBE, lead_id))
    }

    pub fn task_done_url(&self, task_id: i64) -> String {
        format!("{}/t/{}/done", self.base, self.sign(TASK, task_id))
    }

    /// The public URL links are made under (no trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sign `payload` (bytes of `kind`): `PAYLOAD.TAG`, both base64url.
    fn sign_bytes(&self, kind: &str, payload: &[u8]) -> String {
        let tag = mac_bytes(&self.keys[0], kind, payload).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(&tag[..16]))
    }

    /// The payload of a token signed by [`Links::sign_bytes`] under any key.
    fn verify_bytes(&self, kind: &str, token: &str) -> Option<Vec<u8>> {
        let (payload, tag) = token.rsplit_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok().filter(|t| t.len() == 16)?;
        self.keys.iter().any(|k| mac_bytes(k, kind, &payload).verify_truncated_left(&tag).is_ok()).then_some(payload)
    }

    /// `{public_url}/c/TOKEN`: a tracked link.
    pub fn click_url(&self, t: &ClickToken) -> String {
        let payload = format!("{}.{}.{}.{}", t.delivery_id, t.link, t.links, t.url);
        format!("{}/c/{}", self.base, self.sign_bytes(CLICK, payload.as_bytes()))
    }

    /// A trailing `.` is not the token's (a sentence ended after the link
    /// and a mail client kept it in the address).
    pub fn click(&self, token: &str) -> Option<ClickToken> {
        let token = token.trim_end_matches('.');
        let payload = String::from_utf8(self.verify_bytes(CLICK, token)?).ok()?;
        let mut parts = payload.splitn(4, '.');
        let delivery_id = parts.next()?.parse().ok()?;
        let link = parts.next()?.parse().ok()?;
        let links = parts.next()?.parse().ok()?;
        Some(ClickToken { delivery_id, link, links, url: parts.next()?.to_string() })
    }

    /// `{public_url}/a/TOKEN`: a one-click answer.
    pub fn answer_url(&self, t: &AnswerToken) -> String {
        let payload = format!("{}.{}.{}", t.delivery_id, t.lead_id, t.answer);
        format!("{}/a/{}", self.base, self.sign_bytes(ANSWER, payload.as_bytes()))
    }

    pub fn answer(&self, token: &str) -> Option<AnswerToken> {
        let token = token.trim_end_matches('.');
        let payload = String::from_utf8(self.verify_bytes(ANSWER, token)?).ok()?;
        let mut parts = payload.splitn(3, '.');
        let delivery_id = parts.next()?.parse().ok()?;
        let lead_id = parts.next()?.parse().ok()?;
        Some(AnswerToken { delivery_id, lead_id, answer: parts.next()?.to_string() })
    }

    pub fn unsubscribe_lead(&self, token: &str) -> Option<i64> {
        self.verify(UNSUBSCRIBE, token)
    }

    pub fn done_task(&self, token: &str) -> Option<i64> {
        self.verify(TASK, token)
    }
}

/// HMAC-SHA256 of `kind:id` (kinds are part of what is signed, so a
/// token of one kind is no token of another).
fn mac(key: &[u8], kind: &str, id: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{kind}:{id}").as_bytes());
    mac
}

/// HMAC-SHA256 of `kind:` and `payload`.
fn mac_bytes(key: &[u8], kind: &str, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(kind.as_bytes());
    mac.update(b":");
    mac.update(payload);
    mac
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

    #[test]
    fn deliveries_are_found_in_ids_and_return_paths_and_forgeries_are_not() {
        let links = Links::new("https://n.example", b"secret");
        let id = links.message_id(42, "sales.example.com");
        let rp = links.return_path(43, &"bounces@sales.example.com".parse().unwrap());
        assert!(rp.starts_with("bounces+d43.") && rp.ends_with("@sales.example.com"), "{rp}");
        let text =
            format!("References: {id}\r\nTo: {}\r\nX: <d44.0123456789abcdef@sales.example.com>", rp.to_uppercase());
        assert_eq!(links.deliveries_in(&text), vec![42, 43], "the forged d44 is not found");
        assert!(Links::new("x", b"other").deliveries_in(&text).is_empty());
        let rotated = Links::new("x", b"new").with_previous(vec![b"secret".to_vec()]);
        assert_eq!(rotated.deliveries_in(&id), vec![42], "ids sent before a rotation still match");
        let unsubscribe = links.unsubscribe_url(7);
        assert_eq!(links.unsubscribed_leads_in(&format!("> Unsubscribe: {unsubscribe}\n")), vec![7]);
    }

    #[test]
    fn click_and_answer_tokens_carry_their_target_and_refuse_forgeries() {
        let links = Links::new("https://n.example", b"secret");
        let t =
            ClickToken { delivery_id: 9, link: 2, links: 3, url: "https://x.example/p?a=1&b=[2]%20#f\u{e9}.".into() };
        let url = links.click_url(&t);
        let token = url.strip_prefix("https://n.example/c/").unwrap();
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)), "{token}");
        assert_eq!(links.click(token), Some(t.clone()));
        assert_eq!(links.answer(token), None, "a click token is no answer token");
        assert_eq!(links.click(&token[..token.len() - 1]), None, "truncated");
        let (payload, tag) = token.rsplit_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode(b"9.2.3.https://evil.example/");
        assert_eq!(links.click(&format!("{other}.{tag}")), None, "another target under the same tag");
        assert_eq!(Links::new("x", b"other").click(token), None);
        assert_eq!(links.click(payload), None);
        let a = AnswerToken { delivery_id: 9, lead_id: 4, answer: "ready".into() };
        let url = links.answer_url(&a);
        assert_eq!(links.answer(url.rsplit('/').next().unwrap()), Some(a));
    }

    #[test]
    fn any_char_may_stand_next_to_a_token() {
        let links = Links::new("https://n.example", b"secret");
        let id = links.delivery_token(42);
        for text in ["d1.abcdefabcdefabc\u{e9}", "\u{e9}d1.", "d1\u{e9}", "d12345678901234567890.0", "\u{1F600}d", "d"]
        {
            assert!(links.deliveries_in(text).is_empty(), "{text:?}");
        }
        assert_eq!(links.deliveries_in(&format!("\u{e9}{id}\u{e9}")), vec![42], "accents around a real id");
        assert!(links.deliveries_in(&format!("\u{e9}x{id}")).is_empty(), "a letter before it: part of a word");
    }
}
