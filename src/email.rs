//! Email address syntax, shared by config, reps, campaigns and lead import.

use lettre::Address;

/// Parse an address, lower-cased: leads are matched case-insensitively.
pub fn parse_address(s: &str) -> Result<Address, String> {
    s.trim().to_lowercase().parse::<Address>().map_err(|_| format!("{s:?} is not an email address"))
}

/// A `Name <addr>` or bare-address mailbox, as `mail.from` is written.
pub fn parse_mailbox(s: &str) -> Result<lettre::message::Mailbox, String> {
    s.parse().map_err(|_| format!("{s:?} is not a mailbox; write \"Name <user@example.com>\" or \"user@example.com\""))
}
