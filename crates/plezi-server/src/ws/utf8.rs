//! Incremental UTF-8 validation across frame and fragment boundaries.
//!
//! A text message may be split anywhere, even inside a code point. [`Utf8Stream`] validates each
//! piece as it arrives and remembers at most three bytes of an unfinished code point, so invalid
//! input is reported in the piece where it appears (Autobahn 6.4.x "fail fast"), not at the end.

/// Validator state for one text message in progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Utf8Stream {
    /// Leading bytes of a code point cut off at the end of the previous piece.
    pending: [u8; 4],
    /// How many bytes of `pending` are in use (0 when the stream ends on a code point boundary).
    len: u8,
}

/// The input is not UTF-8 (or can never become UTF-8 whatever follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl Utf8Stream {
    /// Validates the next piece of the message.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.len > 0 {
            let have = usize::from(self.len);
            let width = char_width(self.pending[0]);
            let take = (width - have).min(bytes.len());
            self.pending[have..have + take].copy_from_slice(&bytes[..take]);
            self.len += take as u8; // take <= 3
            bytes = &bytes[take..];
            match std::str::from_utf8(&self.pending[..usize::from(self.len)]) {
                Ok(_) => self.len = 0,
                // Still a valid prefix: `bytes` is exhausted, wait for more.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) => match e.error_len() {
                Some(_) => Err(InvalidUtf8),
                None => {
                    // A valid but unfinished code point at the end: at most 3 bytes.
                    let tail = &bytes[e.valid_up_to()..];
                    self.pending[..tail.len()].copy_from_slice(tail);
                    self.len = tail.len() as u8;
                    Ok(())
                }
            },
        }
    }

    /// True when everything fed so far ends on a code point boundary.
    pub(crate) fn is_complete(&self) -> bool {
        self.len == 0
    }
}

/// Width of the code point that starts with `first` (only called for bytes `from_utf8` accepted
/// as the start of an unfinished sequence, so 2..=4).
fn char_width(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(pieces: &[&[u8]]) -> Result<bool, InvalidUtf8> {
        let mut s = Utf8Stream::default();
        for p in pieces {
            s.feed(p)?;
        }
        Ok(s.is_complete())
    }

    #[test]
    fn whole_string_is_valid() {
        assert_eq!(feed_all(&["héllo 𝄞".as_bytes()]), Ok(true));
    }

    #[test]
    fn four_byte_code_point_split_at_every_position() {
        let clef = "𝄞".as_bytes();
        for cut in 0..=clef.len() {
            for cut2 in cut..=clef.len() {
                let r = feed_all(&[&clef[..cut], &clef[cut..cut2], &clef[cut2..]]);
                assert_eq!(r, Ok(true), "cuts {cut} {cut2}");
            }
        }
    }

    #[test]
    fn unfinished_code_point_is_not_complete() {
        assert_eq!(feed_all(&[&[b'a', 0xF0, 0x9D]]), Ok(false));
    }

    #[test]
    fn invalid_continuation_fails_in_the_piece_where_it_appears() {
        let mut s = Utf8Stream::default();
        assert_eq!(s.feed(&[0xCE, 0xBA, 0xF4]), Ok(()));
        // 0xF4 0x90 would encode a code point above U+10FFFF: invalid at once.
        assert_eq!(s.feed(&[0x90]), Err(InvalidUtf8));
    }

    #[test]
    fn surrogates_and_overlongs_are_rejected() {
        assert_eq!(feed_all(&[&[0xED], &[0xA0, 0x80]]), Err(InvalidUtf8));
        assert_eq!(feed_all(&[&[0xC0, 0x80]]), Err(InvalidUtf8));
        assert_eq!(feed_all(&[&[0xE0], &[0x80]]), Err(InvalidUtf8));
        assert_eq!(feed_all(&[&[0xFF]]), Err(InvalidUtf8));
    }

    #[test]
    fn empty_pieces_keep_state() {
        let clef = "𝄞".as_bytes();
        assert_eq!(
            feed_all(&[&clef[..1], &[], &clef[1..3], &[], &clef[3..]]),
            Ok(true)
        );
    }
}
