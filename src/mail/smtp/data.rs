//! The message as the DATA stage hands it over: dot-stuffed (RFC 5321
//! 4.5.2) and terminated, in one write. lettre's `message` writes the
//! body and the terminating `CRLF.CRLF` in two: two segments, and two
//! wake-ups of the server, per message. The bytes are lettre's exactly.

/// Where the next byte falls, as lettre's transparency codec tracks it.
#[derive(Clone, Copy, PartialEq)]
enum At {
    LineStart,
    AfterCr,
    MidLine,
}

/// `message` with every `.` that starts a line doubled, then `CRLF.CRLF`
/// (lettre's codec: a line starts after `CR LF`, and at the first byte).
pub fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut at = At::LineStart;
    for &b in message {
        out.push(b);
        at = match (b, at) {
            (b'\r', _) => At::AfterCr,
            (b'\n', At::AfterCr) => At::LineStart,
            (b'.', At::LineStart) => {
                out.push(b'.');
                At::MidLine
            }
            _ => At::MidLine,
        };
    }
    out.extend_from_slice(b"\r\n.\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_that_start_a_line_are_doubled_and_the_end_is_marked() {
        let s = |m: &str| String::from_utf8(stuffed(m.as_bytes())).unwrap();
        assert_eq!(s("Hi\r\n"), "Hi\r\n\r\n.\r\n");
        assert_eq!(s(".start"), "..start\r\n.\r\n", "the first byte starts a line");
        assert_eq!(s("a\r\n.\r\nb"), "a\r\n..\r\nb\r\n.\r\n", "a lone dot line cannot end the message early");
        assert_eq!(s("a\r\n..b"), "a\r\n...b\r\n.\r\n");
        assert_eq!(s("a.b\r\nc."), "a.b\r\nc.\r\n.\r\n", "dots inside a line stay");
        assert_eq!(s("a\n.b"), "a\n.b\r\n.\r\n", "a bare LF starts no line (as lettre)");
        assert_eq!(s("a\r\r\n.b"), "a\r\r\n..b\r\n.\r\n");
    }

    #[test]
    fn unstuffing_gives_the_message_back() {
        // What a server does (RFC 5321 4.5.2): drop the first dot of a
        // line that starts with one, stop at the lone dot.
        let m = "Subject: x\r\n\r\n.one\r\n..two\r\nthree.\r\n.\r\nend";
        let wire = String::from_utf8(stuffed(m.as_bytes())).unwrap();
        let body = wire.strip_suffix("\r\n.\r\n").unwrap();
        let back: Vec<String> = body.split("\r\n").map(|l| l.strip_prefix('.').unwrap_or(l).to_string()).collect();
        assert_eq!(back.join("\r\n"), m);
    }
}
