//! Negotiating permessage-deflate (RFC 7692 §5, §7.1) from the client's
//! `Sec-WebSocket-Extensions` offers.
//!
//! The offers are read in order (several headers, several comma-separated offers each) and the
//! first acceptable `permessage-deflate` offer wins. An offer with an unknown, repeated or
//! malformed parameter is declined (§7.1: "the server MUST decline"), and the next one is tried.
//!
//! What the server answers, whatever the accepted offer asked:
//! - `server_no_context_takeover`: the server compresses every message on its own (§7.1.1.1 lets a
//!   server say so even when not asked), which is what lets one compressed broadcast serve every
//!   receiver;
//! - `client_no_context_takeover`: the client must compress every message on its own too
//!   (§7.1.1.2 lets a server ask this in any response), so the server keeps no inflate state
//!   between messages;
//! - `server_max_window_bits=N` when the offer had it (§7.1.2.1: the same value is accepted);
//! - never `client_max_window_bits`: the server inflates with a 32 KiB window, which reads any
//!   window the client uses (§7.1.2.2).

/// An accepted permessage-deflate offer: the LZ77 window the server may use for this connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deflate {
    /// `server_max_window_bits` from the offer (8..=15), or 15 when it had none.
    pub(crate) window_bits: u8,
    /// Whether the offer limited the server's window (then the answer repeats the value).
    limited: bool,
}

impl Deflate {
    /// The `Sec-WebSocket-Extensions` header line (with its CRLF) answering this offer.
    pub(crate) fn write_response(self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        );
        if self.limited {
            out.extend_from_slice(b"; server_max_window_bits=");
            out.extend_from_slice(self.window_bits.to_string().as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// The first acceptable permessage-deflate offer among the values of every
/// `Sec-WebSocket-Extensions` header, in order; `None` if there is none.
pub(crate) fn negotiate<'a>(header_values: impl Iterator<Item = &'a str>) -> Option<Deflate> {
    header_values
        .flat_map(|value| split_outside_quotes(value, ','))
        .find_map(accept_offer)
}

/// One offer (`name; param; param=value`), if it is an acceptable permessage-deflate offer.
fn accept_offer(offer: &str) -> Option<Deflate> {
    let mut parts = split_outside_quotes(offer, ';');
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut seen = [false; 4];
    let mut server_bits = None;
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim())?)),
            None => (part, None),
        };
        let index = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => 0,
            "client_no_context_takeover" if value.is_none() => 1,
            "server_max_window_bits" => {
                server_bits = Some(window_bits(value?)?);
                2
            }
            "client_max_window_bits" => {
                if let Some(v) = value {
                    window_bits(v)?;
                }
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[index], true) {
            return None;
        }
    }
    Some(Deflate {
        window_bits: server_bits.unwrap_or(15),
        limited: server_bits.is_some(),
    })
}

/// A window-bits value: a decimal 8..=15 without leading zeros (§7.1.2.1).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|b| (8..=15).contains(b))
}

/// A parameter value: a token, or a quoted string whose content is one (RFC 6455 §9.1). Escapes
/// are not needed for any valid value, so a backslash makes the value invalid.
fn unquote(value: &str) -> Option<&str> {
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => value,
    };
    let is_token = !inner.is_empty()
        && inner
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
    is_token.then_some(inner)
}

/// The non-empty trimmed pieces of `s` between `sep`s that are not inside double quotes.
fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    s.split(move |c: char| {
        if c == '"' {
            quoted = !quoted;
        }
        c == sep && !quoted
    })
    .map(str::trim)
    .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(headers: &[&str]) -> Option<String> {
        let d = negotiate(headers.iter().copied())?;
        let mut out = Vec::new();
        d.write_response(&mut out);
        let line = String::from_utf8(out).unwrap();
        Some(
            line.trim_end()
                .trim_start_matches("Sec-WebSocket-Extensions: ")
                .to_owned(),
        )
    }

    const PLAIN: &str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn what_browsers_and_libraries_offer_is_accepted() {
        for offer in [
            "permessage-deflate",
            "permessage-deflate; client_max_window_bits", // Chromium, Firefox, Node ws
            "permessage-deflate; client_max_window_bits=15", // Python websockets
            "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            "permessage-deflate; server_no_context_takeover",
            "PerMessage-Deflate ; Client_Max_Window_Bits = \"10\"",
            "x-webkit-deflate-frame, permessage-deflate",
        ] {
            assert_eq!(answer(&[offer]).as_deref(), Some(PLAIN), "{offer}");
        }
    }

    #[test]
    fn server_max_window_bits_is_echoed() {
        for bits in 8..=15 {
            let offer = format!("permessage-deflate; server_max_window_bits={bits}");
            let d = negotiate([offer.as_str()].into_iter()).unwrap();
            assert_eq!(d.window_bits, bits);
            assert_eq!(
                answer(&[&offer]).unwrap(),
                format!("{PLAIN}; server_max_window_bits={bits}")
            );
        }
        let d = negotiate(["permessage-deflate; server_max_window_bits=\"9\""].into_iter());
        assert_eq!(d.map(|d| d.window_bits), Some(9));
    }

    #[test]
    fn a_bad_offer_is_declined_and_the_next_one_tried() {
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=1a",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
            "permessage-deflate; unknown",
            "permessage-deflate; server_max_window_bits=\"1\\0\"",
        ] {
            assert_eq!(answer(&[bad]), None, "{bad}");
            // The next offer (same header, or a later header) is accepted.
            assert_eq!(
                answer(&[&format!(
                    "{bad}, permessage-deflate; server_max_window_bits=12"
                )]),
                Some(format!("{PLAIN}; server_max_window_bits=12")),
                "{bad}"
            );
            assert_eq!(answer(&[bad, "permessage-deflate"]).as_deref(), Some(PLAIN));
        }
    }

    #[test]
    fn an_unclosed_quote_spoils_the_rest_of_the_header() {
        let h = "permessage-deflate; server_max_window_bits=\"10, permessage-deflate";
        assert_eq!(answer(&[h]), None);
        assert_eq!(answer(&[h, "permessage-deflate"]).as_deref(), Some(PLAIN));
    }

    #[test]
    fn the_first_acceptable_offer_wins() {
        let offers = "permessage-deflate; server_max_window_bits=9; client_max_window_bits, \
                      permessage-deflate; client_max_window_bits";
        assert_eq!(
            answer(&[offers]).unwrap(),
            format!("{PLAIN}; server_max_window_bits=9")
        );
    }

    #[test]
    fn no_offer_no_extension() {
        assert_eq!(answer(&[]), None);
        assert_eq!(answer(&[""]), None);
        assert_eq!(answer(&["x-webkit-deflate-frame"]), None);
        assert_eq!(answer(&["permessage-deflatex"]), None);
    }
}
