//! What a stranger's bytes reach on the readiness side: a rendered email
//! (lead data flows into it) rewritten for tracking, and tokens taken from
//! `/c/` and `/a/` paths. Nothing panics; every rewritten link is a signed
//! token that reads back to an http(s) target of the input; a token never
//! signed is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nurture::links::Links;
use nurture::template::RenderedEmail;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let links = Links::new("https://n.example", b"fuzz key");
    // As a forged token: refused, whatever it is.
    assert!(links.click(&text).is_none() || text.contains('.'), "an unsigned token accepted: {text:?}");
    assert!(links.answer(&text).is_none() || text.contains('.'));
    let email = RenderedEmail { subject: "s".into(), text: text.to_string(), html: Some(text.to_string()) };
    let out = nurture::tracking::finish(email, 7, 9, &links, true);
    let html = out.html.unwrap_or_default();
    for part in [out.text.as_str(), html.as_str()] {
        for token in part.split("https://n.example/c/").skip(1) {
            let token: String = token.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
            if text.contains(&format!("https://n.example/c/{token}")) {
                continue; // written so by the input (in HTML text, which is never rewritten)
            }
            let t = links.click(&token).unwrap_or_else(|| panic!("a rewritten link that does not verify: {token:?}"));
            assert_eq!(t.delivery_id, 7);
            // Schemes are case-blind, as browsers read them.
            let scheme: String = t.url.chars().take(8).collect::<String>().to_ascii_lowercase();
            assert!(t.url.is_empty() || scheme.starts_with("http://") || scheme.starts_with("https://"), "{t:?}");
        }
    }
});
