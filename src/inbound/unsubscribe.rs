//! A person asking to be taken off the list by mail: Apple Mail's
//! unsubscribe request (`X-Apple-Unsubscribe`), a message whose subject is
//! just "unsubscribe" (what a `mailto:` unsubscribe sends), or a reply
//! whose own words (not the quote of our email, whose footer says
//! "Unsubscribe") ask for it. It unsubscribes, as the link does; telling
//! a rep instead would leave the emails coming.

use mail_parser::Message;

use super::view;

/// Phrases of a removal request, lower-case, in the languages the
/// out-of-office reader knows.
const ASKS: &[&str] = &[
    "unsubscribe me",
    "please unsubscribe",
    "i want to unsubscribe",
    "i'd like to unsubscribe",
    "i would like to unsubscribe",
    "remove me from",
    "remove my email",
    "remove my address",
    "take me off",
    "stop emailing me",
    "stop sending me",
    "stop contacting me",
    "don't email me",
    "do not email me",
    "do not contact me",
    "opt me out",
    "bitte abmelden",
    "melden sie mich ab",
    "aus ihrem verteiler",
    "austragen",
    "désabonnez-moi",
    "désinscrivez-moi",
    "me désabonner",
    "me désinscrire",
    "darme de baja",
    "denme de baja",
    "dar de baja mi",
];

/// A mail program's own unsubscribe request (Apple Mail's), which no
/// automatic-reply or machine-mail rule may take first.
pub fn by_mail_program(m: &Message) -> Option<&'static str> {
    view::header(m, "X-Apple-Unsubscribe").map(|_| "an unsubscribe request from Apple Mail")
}

/// Why a person's message asks to be unsubscribed, if it does.
/// `own_words`: the first lines the person wrote, quotes removed.
pub fn requested(subject: &str, own_words: &str) -> Option<&'static str> {
    let bare = |s: &str| {
        let s = s.trim().trim_end_matches(['.', '!']).to_lowercase();
        s == "unsubscribe" || s == "remove" || s == "stop"
    };
    if bare(subject) || bare(own_words) {
        return Some("an unsubscribe request");
    }
    let words = own_words.to_lowercase().replace('\u{2019}', "'");
    ASKS.iter().any(|a| words.contains(a)).then_some("a reply asking to be unsubscribed")
}
