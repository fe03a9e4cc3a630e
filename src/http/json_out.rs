//! A small JSON writer for the bodies the API writes most (Assets and Functions, single and
//! listed, and every list envelope). serde_json escapes byte by byte through a table and formats
//! dates and URLs through `core::fmt`; here text that needs no escaping (SIDs, dates, URLs,
//! most names) is copied in one go, and dates are written digit by digit. Anything that does
//! need escaping goes through serde_json, so the output is byte-identical to it.

use serde::Serialize;

/// A JSON document being written.
pub struct JsonOut {
    buf: Vec<u8>,
}

/// Whether `text` can be written between quotes as it is: no `"`, `\` or control character.
fn plain(text: &str) -> bool {
    // No early exit: the compiler turns this into a few wide comparisons per 16 bytes.
    text.bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
}

impl JsonOut {
    pub fn with_capacity(bytes: usize) -> JsonOut {
        JsonOut {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Punctuation and keys the caller knows to be valid JSON as they are.
    pub fn raw(&mut self, json: &str) {
        self.buf.extend_from_slice(json.as_bytes());
    }

    /// A JSON string.
    pub fn string(&mut self, text: &str) {
        if plain(text) {
            self.buf.push(b'"');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.push(b'"');
        } else {
            self.serialize(text);
        }
    }

    /// One JSON string made of `parts` (a URL from its pieces) without building it first.
    pub fn concat(&mut self, parts: &[&str]) {
        if parts.iter().all(|p| plain(p)) {
            self.buf.push(b'"');
            for part in parts {
                self.buf.extend_from_slice(part.as_bytes());
            }
            self.buf.push(b'"');
        } else {
            self.serialize(&parts.concat());
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, as [`crate::clock::TwilioDate`] shows it.
    pub fn date(&mut self, secs: i64) {
        let mut text = [0u8; 20];
        crate::clock::write_twilio_date(secs, &mut text);
        self.buf.push(b'"');
        self.buf.extend_from_slice(&text);
        self.buf.push(b'"');
    }

    pub fn number(&mut self, n: u64) {
        let mut digits = itoa::Buffer::new();
        self.buf.extend_from_slice(digits.format(n).as_bytes());
    }

    /// A JSON string, or `null` for `None`.
    pub fn optional(&mut self, text: Option<&str>) {
        match text {
            Some(text) => self.string(text),
            None => self.raw("null"),
        }
    }

    /// Any value, through serde_json.
    pub fn serialize<T: Serialize + ?Sized>(&mut self, value: &T) {
        if serde_json::to_writer(&mut self.buf, value).is_err() {
            // Plain structs of strings and numbers cannot fail; keep the document valid anyway.
            self.raw("null");
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// A body that writes itself.
pub trait WriteJson {
    fn write_json(&self, out: &mut JsonOut);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_match_serde_json_byte_for_byte() {
        for text in [
            "plain",
            "",
            "quote \" and \\ backslash",
            "tab\tnew\nline\u{1}",
            "ünïcödé / slash",
            "\u{7f}\u{80}",
        ] {
            let mut out = JsonOut::with_capacity(0);
            out.string(text);
            assert_eq!(
                out.into_bytes(),
                serde_json::to_vec(text).unwrap(),
                "{text:?}"
            );
            let mut out = JsonOut::with_capacity(0);
            out.concat(&["a/", text, "/b"]);
            let joined = format!("a/{text}/b");
            assert_eq!(out.into_bytes(), serde_json::to_vec(&joined).unwrap());
        }
    }

    #[test]
    fn dates_and_numbers() {
        let mut out = JsonOut::with_capacity(0);
        out.date(1_541_880_000);
        out.raw(",");
        out.number(1234);
        out.raw(",");
        out.optional(None);
        assert_eq!(
            String::from_utf8(out.into_bytes()).unwrap(),
            "\"2018-11-10T20:00:00Z\",1234,null"
        );
    }
}
