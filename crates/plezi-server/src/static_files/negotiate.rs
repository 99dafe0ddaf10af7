//! Header negotiation for static files: `Accept-Encoding`, validators (`If-None-Match`,
//! `If-Modified-Since`, `If-Range`) and single byte ranges.

/// Whether `Accept-Encoding` allows a gzip-encoded response. `q=0` refuses; an explicit `gzip` /
/// `x-gzip` entry wins over `*`.
pub(crate) fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(value) = accept_encoding else {
        return false;
    };
    let mut gzip = None;
    let mut any = None;
    for element in value.split(',') {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let mut q_positive = true;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q_positive = v.trim().parse::<f32>().is_ok_and(|q| q > 0.0);
            }
        }
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.unwrap_or(false) || q_positive);
        } else if coding == "*" {
            any = Some(q_positive);
        }
    }
    gzip.or(any).unwrap_or(false)
}

fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// `If-None-Match` against our entity tag, weak comparison; `*` matches any existing file.
pub(crate) fn none_match(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || opaque(tag) == opaque(etag))
}

/// Whether an `If-Range` value still describes our representation (strong comparison for tags,
/// exact match for a date), so the `Range` header applies.
pub(crate) fn if_range_holds(if_range: &str, etag: &str, last_modified: &str) -> bool {
    let v = if_range.trim();
    if v.starts_with("W/") {
        false
    } else if v.starts_with('"') {
        v == etag
    } else {
        v == last_modified
    }
}

/// What a `Range` header asks of a representation of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAnswer {
    /// No usable range (absent, not `bytes`, malformed or several ranges): send the whole file.
    Full,
    /// Send bytes `start..=end` with 206.
    Partial { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Longer than u64: saturate (a huge first-pos is unsatisfiable, a huge last-pos is clamped).
    Some(s.parse().unwrap_or(u64::MAX))
}

/// Interprets a `Range` header for a representation of `len` bytes. Only one range is honoured;
/// a list of ranges is ignored (the whole file is sent with 200), as RFC 9110 allows.
pub(crate) fn range(header: Option<&str>, len: u64) -> RangeAnswer {
    let Some(value) = header else {
        return RangeAnswer::Full;
    };
    let Some((unit, spec)) = value.trim().split_once('=') else {
        return RangeAnswer::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), digits(first), digits(last)) {
        // -n: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    start: len - n.min(len),
                    end: len - 1,
                }
            }
        }
        // a- : from a to the end.
        (false, Some(a), None) if last.is_empty() => {
            if a >= len {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    start: a,
                    end: len - 1,
                }
            }
        }
        // a-b
        (false, Some(a), Some(b)) if a <= b => {
            if a >= len {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    start: a,
                    end: b.min(len - 1),
                }
            }
        }
        _ => RangeAnswer::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_acceptance() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(accepts_gzip(Some("x-gzip")));
        assert!(!accepts_gzip(None));
        assert!(!accepts_gzip(Some("")));
        assert!(!accepts_gzip(Some("br, deflate")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("gzip; q=0.000")));
        assert!(!accepts_gzip(Some("*, gzip;q=0")));
        assert!(!accepts_gzip(Some("*;q=0")));
        assert!(!accepts_gzip(Some("gzip;q=nonsense")));
        assert!(!accepts_gzip(Some("gzipx")));
    }

    #[test]
    fn validators() {
        let etag = "\"a-b\"";
        assert!(none_match("\"a-b\"", etag));
        assert!(none_match("W/\"a-b\"", etag));
        assert!(none_match("\"x\", \"a-b\"", etag));
        assert!(none_match("*", etag));
        assert!(!none_match("\"a-c\"", etag));
        assert!(!none_match("a-b", etag));

        let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert!(if_range_holds("\"a-b\"", etag, lm));
        assert!(!if_range_holds("W/\"a-b\"", etag, lm));
        assert!(!if_range_holds("\"old\"", etag, lm));
        assert!(if_range_holds(lm, etag, lm));
        assert!(!if_range_holds("Mon, 07 Nov 1994 08:49:37 GMT", etag, lm));
    }

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        let r = |h: &str, len| range(Some(h), len);
        assert_eq!(range(None, 10), Full);
        assert_eq!(r("bytes=0-4", 10), Partial { start: 0, end: 4 });
        assert_eq!(r("bytes=5-", 10), Partial { start: 5, end: 9 });
        assert_eq!(r("bytes=-3", 10), Partial { start: 7, end: 9 });
        assert_eq!(r("bytes=-30", 10), Partial { start: 0, end: 9 });
        assert_eq!(r("bytes=8-100", 10), Partial { start: 8, end: 9 });
        assert_eq!(r("Bytes = 2-2", 10), Partial { start: 2, end: 2 });
        assert_eq!(
            r("bytes=0-99999999999999999999999", 10),
            Partial { start: 0, end: 9 }
        );
        assert_eq!(r("bytes=10-", 10), Unsatisfiable);
        assert_eq!(r("bytes=10-20", 10), Unsatisfiable);
        assert_eq!(r("bytes=-0", 10), Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Unsatisfiable);
        assert_eq!(r("bytes=-5", 0), Unsatisfiable);
        assert_eq!(r("bytes=99999999999999999999999-", 10), Unsatisfiable);
        // Ignored: several ranges, other units, malformed specs.
        assert_eq!(r("bytes=0-1,3-4", 10), Full);
        assert_eq!(r("items=0-1", 10), Full);
        assert_eq!(r("bytes=5-4", 10), Full);
        assert_eq!(r("bytes=a-b", 10), Full);
        assert_eq!(r("bytes=-", 10), Full);
        assert_eq!(r("bytes=1", 10), Full);
        assert_eq!(r("bytes=+1-2", 10), Full);
        assert_eq!(r("bytes 0-1", 10), Full);
    }
}
