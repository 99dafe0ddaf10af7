//! Percent-decoding for path segments and for query/form components.
//!
//! Two flavours, because the URL and form rules differ on one byte:
//!
//! | input                     | `+`      | `%XX`    | invalid `%` / not UTF-8 |
//! |---------------------------|----------|----------|-------------------------|
//! | path segment (`/a+b/`)    | kept `+` | decoded  | [`DecodeError`]         |
//! | query / form component    | space    | decoded  | [`DecodeError`]         |
//!
//! Invalid input is an error rather than being passed through literally: a request whose
//! parameters cannot be decoded is answered `400 Bad Request` (see
//! [`ParamsError::BadEncoding`](super::ParamsError::BadEncoding)), so a handler never sees
//! a half-decoded value.

use std::borrow::Cow;
use std::fmt;

/// Why a percent-encoded string could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hexadecimal digits (at this byte offset).
    BadEscape {
        /// Byte offset of the `%` in the input.
        at: usize,
    },
    /// The decoded bytes are not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadEscape { at } => write!(
                f,
                "invalid percent-escape at byte {at}: '%' must be followed by two hex digits (write '%25' for a literal '%')"
            ),
            DecodeError::NotUtf8 => {
                f.write_str("percent-decoded bytes are not valid UTF-8; encode text as UTF-8")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes one path segment (already split on `/`): `%XX` is decoded, `+` stays `+`.
///
/// Borrows when there is nothing to decode.
///
/// ```
/// use plezi_dispatch::params::decode_path_segment;
/// assert_eq!(decode_path_segment("a%20b+c").unwrap(), "a b+c");
/// assert!(decode_path_segment("100%").is_err());
/// ```
pub fn decode_path_segment(s: &str) -> Result<Cow<'_, str>, DecodeError> {
    decode(s, false)
}

/// Decodes one query-string or `application/x-www-form-urlencoded` key or value:
/// `+` is a space and `%XX` is decoded.
///
/// ```
/// use plezi_dispatch::params::decode_form_component;
/// assert_eq!(decode_form_component("a+b%2Bc").unwrap(), "a b+c");
/// ```
pub fn decode_form_component(s: &str) -> Result<Cow<'_, str>, DecodeError> {
    decode(s, true)
}

fn decode(s: &str, plus_is_space: bool) -> Result<Cow<'_, str>, DecodeError> {
    let bytes = s.as_bytes();
    let needs_work = bytes
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'));
    if !needs_work {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(DecodeError::BadEscape { at: i }),
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| DecodeError::NotUtf8)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            decode_path_segment("abc"),
            Ok(Cow::Borrowed("abc"))
        ));
        assert!(matches!(
            decode_form_component("abc"),
            Ok(Cow::Borrowed("abc"))
        ));
    }

    #[test]
    fn plus_differs_between_path_and_form() {
        assert_eq!(decode_path_segment("a+b").unwrap(), "a+b");
        assert_eq!(decode_form_component("a+b").unwrap(), "a b");
        assert_eq!(decode_form_component("%2B").unwrap(), "+");
        assert_eq!(decode_path_segment("%2B").unwrap(), "+");
    }

    #[test]
    fn escapes_decode_in_both_cases_and_multibyte() {
        assert_eq!(decode_path_segment("%41%6a%6A").unwrap(), "Ajj");
        assert_eq!(decode_path_segment("caf%C3%A9").unwrap(), "café");
        assert_eq!(decode_path_segment("a%2Fb").unwrap(), "a/b");
        assert_eq!(decode_form_component("%25").unwrap(), "%");
        // Already-UTF-8 input passes through untouched.
        assert_eq!(decode_path_segment("שלום%20").unwrap(), "שלום ");
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(
            decode_path_segment("100%"),
            Err(DecodeError::BadEscape { at: 3 })
        );
        assert_eq!(
            decode_path_segment("%4"),
            Err(DecodeError::BadEscape { at: 0 })
        );
        assert_eq!(
            decode_form_component("a%zz"),
            Err(DecodeError::BadEscape { at: 1 })
        );
        assert_eq!(
            decode_form_component("%%41"),
            Err(DecodeError::BadEscape { at: 0 })
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert_eq!(decode_path_segment("%FF"), Err(DecodeError::NotUtf8));
        assert_eq!(decode_form_component("%C3"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn errors_say_what_to_do() {
        let msg = DecodeError::BadEscape { at: 0 }.to_string();
        assert!(msg.contains("%25"), "{msg}");
    }
}
