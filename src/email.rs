//! Email address syntax, shared by config, reps, campaigns and lead import.

use lettre::Address;

/// The longest address SMTP carries (RFC 5321's path limit, less `<>`).
pub const MAX_ADDRESS: usize = 254;

/// Parse an address, lower-cased: leads are matched case-insensitively.
/// Only what nurture can mail: the mail library's own parser accepts it,
/// at most 254 characters, and no quoted local part (`"a b"@x`): RFC 5321
/// allows one, but no lead has one, mail systems mangle it, and it is how
/// strangers smuggle `<`, `>`, spaces and commas into a header.
pub fn parse_address(s: &str) -> Result<Address, String> {
    let s = s.trim();
    let what = || {
        let shown: String = s.chars().take(80).collect();
        if shown.len() < s.len() { format!("{shown:?}...") } else { format!("{shown:?}") }
    };
    if s.chars().count() > MAX_ADDRESS {
        return Err(format!("{} is not an email address: longer than {MAX_ADDRESS} characters", what()));
    }
    if s.contains(['"', '\\', ' ', '<', '>', ',', ';', '(', ')', '[', ']']) || s.chars().any(char::is_control) {
        return Err(format!(
            "{} is not an email address nurture can mail: quotes, spaces and <>,;()[] are refused",
            what()
        ));
    }
    s.to_lowercase().parse::<Address>().map_err(|_| format!("{} is not an email address", what()))
}

/// A `Name <addr>` or bare-address mailbox, as `mail.from` is written.
pub fn parse_mailbox(s: &str) -> Result<lettre::message::Mailbox, String> {
    s.parse().map_err(|_| format!("{s:?} is not a mailbox; write \"Name <user@example.com>\" or \"user@example.com\""))
}
