//! SSE framing: the few byte patterns every dialect is made of.
//!
//! These functions write complete WHATWG `text/event-stream` fields into a
//! caller-owned [`BytesMut`]. They never panic and never let a CR or LF from
//! their input break a field: text is split into several `data:` lines, and
//! line breaks are dropped from event names and comments.
//!
//! ```
//! use bytes::BytesMut;
//! use bedrock_sse::frame;
//!
//! let mut out = BytesMut::new();
//! frame::event_name(&mut out, "done");
//! frame::data_line(&mut out, r#"{"stopReason":"end_turn"}"#);
//! frame::end(&mut out);
//! assert_eq!(&out[..], b"event: done\ndata: {\"stopReason\":\"end_turn\"}\n\n");
//! ```

use bytes::{BufMut, BytesMut};

/// Writes `event: <name>`; CR and LF in `name` are dropped.
pub fn event_name(out: &mut BytesMut, name: &str) {
    out.put_slice(b"event: ");
    put_single_line(out, name);
    out.put_u8(b'\n');
}

/// Writes one `data: <line>` field. `line` must not contain CR or LF; any that
/// it does contain are dropped. Use [`TextLines`] for arbitrary text.
pub fn data_line(out: &mut BytesMut, line: &str) {
    out.put_slice(b"data: ");
    put_single_line(out, line);
    out.put_u8(b'\n');
}

/// Writes `data: <json>` with `value` serialized straight into the buffer.
///
/// JSON escapes CR and LF inside strings, so the value is always one line.
/// Should serialization fail (a map with non-string keys, say), `data: null`
/// is written instead of a partial line.
pub fn json_data<T: serde::Serialize + ?Sized>(out: &mut BytesMut, value: &T) {
    let mark = out.len();
    out.put_slice(b"data: ");
    if serde_json::to_writer(BufMut::writer(&mut *out), value).is_err() {
        out.truncate(mark);
        out.put_slice(b"data: null");
    }
    out.put_u8(b'\n');
}

/// Ends an event: the blank line that makes a client dispatch it.
pub fn end(out: &mut BytesMut) {
    out.put_u8(b'\n');
}

/// Writes a whole comment frame, `: <text>` and a blank line. Clients ignore
/// comments; proxies see bytes flowing. CR and LF in `text` are dropped.
pub fn comment(out: &mut BytesMut, text: &str) {
    out.put_u8(b':');
    if !text.is_empty() {
        out.put_u8(b' ');
        put_single_line(out, text);
    }
    out.put_slice(b"\n\n");
}

/// Splits text into `data:` lines so that a conforming client reassembles it.
///
/// A client joins the `data` lines of one event with LF, so text is split at
/// every LF, CR and CRLF: CR and CRLF therefore arrive as LF. A CR at the end
/// of one piece of text followed by an LF at the start of the next is a single
/// CRLF split in two, and counts as one line break: that is the state kept here.
#[derive(Debug, Default, Clone, Copy)]
pub struct TextLines {
    after_cr: bool,
}

impl TextLines {
    /// A splitter at the start of a text.
    pub const fn new() -> Self {
        Self { after_cr: false }
    }

    /// Writes `text` as the `data:` lines of one event (without the blank line
    /// that ends the event). Returns `false`, writing nothing, when nothing is
    /// left to send: `text` is empty, or is only the LF half of a split CRLF.
    pub fn write(&mut self, out: &mut BytesMut, text: &str) -> bool {
        let mut text = text.as_bytes();
        if text.is_empty() {
            // Nothing to send, and no LF to pair with an earlier CR.
            return false;
        }
        if std::mem::take(&mut self.after_cr) {
            if let Some(rest) = text.strip_prefix(b"\n") {
                text = rest;
            }
        }
        if text.is_empty() {
            return false;
        }
        self.after_cr = text.last() == Some(&b'\r');
        let mut start = 0;
        let mut breaks = memchr::memchr2_iter(b'\n', b'\r', text);
        while let Some(at) = breaks.next() {
            out.put_slice(b"data: ");
            out.put_slice(&text[start..at]);
            out.put_u8(b'\n');
            start = at + 1;
            if text[at] == b'\r' && text.get(at + 1) == Some(&b'\n') {
                // The LF of a CRLF ends no line of its own.
                breaks.next();
                start += 1;
            }
        }
        // The text after the last line break; empty when the text ends with
        // one, which is exactly the empty last line a client needs to append
        // the trailing LF.
        out.put_slice(b"data: ");
        out.put_slice(&text[start..]);
        out.put_u8(b'\n');
        true
    }
}

fn put_single_line(out: &mut BytesMut, text: &str) {
    for piece in text.split(['\r', '\n']) {
        out.put_slice(piece.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(pieces: &[&str]) -> Vec<String> {
        let mut splitter = TextLines::new();
        pieces
            .iter()
            .map(|piece| {
                let mut out = BytesMut::new();
                splitter.write(&mut out, piece);
                String::from_utf8(out.to_vec()).unwrap()
            })
            .collect()
    }

    #[test]
    fn plain_text_is_one_line() {
        assert_eq!(lines(&["Hello"]), ["data: Hello\n"]);
    }

    #[test]
    fn a_leading_space_is_kept_after_the_single_separator_space() {
        assert_eq!(lines(&[" world"]), ["data:  world\n"]);
    }

    #[test]
    fn every_line_break_style_splits() {
        assert_eq!(
            lines(&["a\nb\rc\r\nd"]),
            ["data: a\ndata: b\ndata: c\ndata: d\n"]
        );
    }

    #[test]
    fn a_trailing_break_ends_with_an_empty_line() {
        assert_eq!(lines(&["a\n"]), ["data: a\ndata: \n"]);
        assert_eq!(lines(&["\n"]), ["data: \ndata: \n"]);
    }

    #[test]
    fn a_crlf_split_across_two_pieces_is_one_break() {
        assert_eq!(lines(&["a\r", "\nb"]), ["data: a\ndata: \n", "data: b\n"]);
        assert_eq!(lines(&["a\r", "\n"]), ["data: a\ndata: \n", ""]);
        assert_eq!(
            lines(&["a\r", "\n\n"]),
            ["data: a\ndata: \n", "data: \ndata: \n"]
        );
        // An empty piece between the halves does not part them.
        assert_eq!(
            lines(&["a\r", "", "\nb"]),
            ["data: a\ndata: \n", "", "data: b\n"]
        );
        // Only the one LF right after the CR is its other half.
        assert_eq!(
            lines(&["a\r", "\n", "\nb"]),
            ["data: a\ndata: \n", "", "data: \ndata: b\n"]
        );
    }

    #[test]
    fn field_lookalikes_stay_data() {
        assert_eq!(
            lines(&["data: x\n: comment\nevent: y"]),
            ["data: data: x\ndata: : comment\ndata: event: y\n"]
        );
    }

    #[test]
    fn names_and_comments_lose_line_breaks() {
        let mut out = BytesMut::new();
        event_name(&mut out, "evil\r\nname");
        comment(&mut out, "two\nlines");
        assert_eq!(&out[..], b"event: evilname\n: twolines\n\n");
    }
}
