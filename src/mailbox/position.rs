//! Where reading a folder stands: its UIDVALIDITY, the last UID handled,
//! and how often the message after it has failed, kept in the database
//! (the note of the timer `imap:NAME`) so a restart, or another replica,
//! goes on from there and a message that always fails is set aside
//! instead of being read forever.

/// `validity:uid:tries`; `uid` 0 before the first message; `tries` the
/// failed attempts at the next message (notes written before there were
/// tries have two parts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub validity: u32,
    pub uid: u32,
    pub tries: u32,
}

impl Position {
    pub fn parse(note: &str) -> Option<Position> {
        let mut parts = note.split(':').map(str::trim);
        let (validity, uid) = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
        let tries = match parts.next() {
            Some(t) => t.parse().ok()?,
            None => 0,
        };
        Some(Position { validity, uid, tries })
    }

    pub fn note(&self) -> String {
        format!("{}:{}:{}", self.validity, self.uid, self.tries)
    }

    /// `uid` is handled (or set aside): the next message starts afresh.
    pub fn past(&mut self, uid: u32) {
        self.uid = uid;
        self.tries = 0;
    }

    /// The position in a folder whose UIDVALIDITY is `validity`. Another
    /// validity (the folder was recreated, or the mailbox moved to another
    /// server) means its UIDs name other messages: reading starts again
    /// from the first, and the per-message marks keep what was handled
    /// from being handled twice.
    pub fn in_folder(stored: Option<Position>, validity: u32) -> Position {
        match stored {
            Some(p) if p.validity == validity => p,
            _ => Position { validity, uid: 0, tries: 0 },
        }
    }

    /// The next UIDs to handle, oldest first, at most `batch`. Only those
    /// after the position: a server answers `UID SEARCH UID n:*` with the
    /// folder's last message even when it is older than `n` (RFC 3501).
    pub fn next(&self, found: impl IntoIterator<Item = u32>, batch: usize) -> Vec<u32> {
        let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > self.uid).collect();
        uids.sort_unstable();
        uids.dedup();
        uids.truncate(batch);
        uids
    }
}

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn a_position_round_trips_through_its_note() {
        let p = Position { validity: 1_700_000_000, uid: 42, tries: 2 };
        assert_eq!(Position::parse(&p.note()), Some(p));
        assert_eq!(Position::parse("7:42"), Some(Position { validity: 7, uid: 42, tries: 0 }), "an older note");
        assert_eq!(Position::parse(""), None);
        assert_eq!(Position::parse("x:1"), None);
    }

    #[test]
    fn another_validity_starts_from_the_first_message() {
        let p = Position { validity: 7, uid: 42, tries: 0 };
        assert_eq!(Position::in_folder(Some(p), 7), p);
        assert_eq!(Position::in_folder(Some(p), 8), Position { validity: 8, uid: 0, tries: 0 });
        assert_eq!(Position::in_folder(None, 8), Position { validity: 8, uid: 0, tries: 0 });
    }

    #[test]
    fn next_takes_newer_uids_in_order_up_to_the_batch() {
        let p = Position { validity: 1, uid: 10, tries: 0 };
        assert_eq!(p.next([10], 5), Vec::<u32>::new(), "the server's answer for n:* when nothing is new");
        assert_eq!(p.next([14, 11, 9, 12, 13], 3), vec![11, 12, 13]);
    }
}
