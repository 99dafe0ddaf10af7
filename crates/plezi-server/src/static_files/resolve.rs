//! Mapping a request path onto the public folder without ever leaving it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A request path decoded into file-name segments that are safe to join under the root.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SafePath {
    /// Decoded, non-empty segments; none is `.` or `..` or contains `/`, `\` or NUL.
    pub(crate) segments: Vec<Vec<u8>>,
    /// Whether the request path ended with `/` (a folder was asked for).
    pub(crate) trailing_slash: bool,
}

impl SafePath {
    /// `root` joined with the segments.
    pub(crate) fn under(&self, root: &Path) -> PathBuf {
        let mut path = root.to_path_buf();
        for segment in &self.segments {
            path.push(OsStr::from_bytes(segment));
        }
        path
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hi = hex(*raw.get(i + 1)?)?;
            let lo = hex(*raw.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Decodes the raw path of a request (no query) into safe segments.
///
/// Refused (`None`): paths not starting with `/`, malformed `%` escapes, an encoded or literal
/// backslash, an encoded `/` (`%2F`: a segment may not contain a slash), NUL, and `.` or `..`
/// segments, literal or encoded. Empty segments (`//`) are skipped.
pub(crate) fn decode_path(raw: &str) -> Option<SafePath> {
    let rest = raw.strip_prefix('/')?;
    let mut segments = Vec::new();
    for raw_segment in rest.split('/') {
        if raw_segment.is_empty() {
            continue;
        }
        let segment = percent_decode(raw_segment.as_bytes())?;
        if segment.iter().any(|&b| b == b'/' || b == b'\\' || b == 0) {
            return None;
        }
        if segment == b"." || segment == b".." {
            return None;
        }
        segments.push(segment);
    }
    Some(SafePath {
        segments,
        trailing_slash: raw.ends_with('/'),
    })
}

/// Whether a segment names a dotfile that is hidden by default: any segment starting with `.`,
/// except a first segment `.well-known` (RFC 8615, used by ACME).
pub(crate) fn has_hidden_segment(segments: &[Vec<u8>]) -> bool {
    segments
        .iter()
        .enumerate()
        .any(|(i, s)| s.starts_with(b".") && !(i == 0 && s == b".well-known"))
}

/// Whether the canonical `real` path (inside the canonical `root`) passes through a hidden name
/// (a symlink to `.git` or `.env` is hidden too).
pub(crate) fn hidden_below(root: &Path, real: &Path) -> bool {
    let Ok(rel) = real.strip_prefix(root) else {
        return true;
    };
    let segments: Vec<Vec<u8>> = rel
        .components()
        .map(|c| c.as_os_str().as_bytes().to_vec())
        .collect();
    has_hidden_segment(&segments)
}

/// The path with every run of `/` made one `/`, so it cannot start with `//`.
pub(crate) fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Resolves symlinks in `path` and returns it only if it is still inside `root` (which must
/// itself be canonical) and names a regular file.
pub(crate) fn contained_file(root: &Path, path: &Path) -> Option<PathBuf> {
    let real = path.canonicalize().ok()?;
    (real.starts_with(root) && real.is_file()).then_some(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(raw: &str) -> Option<Vec<String>> {
        decode_path(raw).map(|p| {
            p.segments
                .into_iter()
                .map(|s| String::from_utf8(s).unwrap())
                .collect()
        })
    }

    #[test]
    fn decodes_ordinary_paths() {
        assert_eq!(segs("/"), Some(vec![]));
        assert_eq!(segs("/a/b.txt"), Some(vec!["a".into(), "b.txt".into()]));
        assert_eq!(segs("/a%20b/%C3%A9"), Some(vec!["a b".into(), "é".into()]));
        assert_eq!(segs("//a//b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(
            segs("/.well-known/x"),
            Some(vec![".well-known".into(), "x".into()])
        );
        assert_eq!(segs("/a+b"), Some(vec!["a+b".into()]));
        assert_eq!(segs("/a..b"), Some(vec!["a..b".into()]));
        assert!(decode_path("/dir/").unwrap().trailing_slash);
        assert!(!decode_path("/dir").unwrap().trailing_slash);
    }

    #[test]
    fn hidden_segments_and_slashes() {
        let hidden = |raw: &str| has_hidden_segment(&decode_path(raw).unwrap().segments);
        assert!(hidden("/.env"));
        assert!(hidden("/a/.git/config"));
        assert!(hidden("/%2egit/config"));
        assert!(hidden("/.well-known/.secret"));
        assert!(hidden("/a/.well-known/x"));
        assert!(!hidden("/.well-known/acme-challenge/t"));
        assert!(!hidden("/a.b/c"));
        assert!(hidden_below(Path::new("/r"), Path::new("/r/x/.hidden")));
        assert!(!hidden_below(Path::new("/r"), Path::new("/r/x/y")));
        assert!(hidden_below(Path::new("/r"), Path::new("/elsewhere")));
        assert_eq!(collapse_slashes("//evil.example"), "/evil.example");
        assert_eq!(collapse_slashes("///a//b/"), "/a/b/");
        assert_eq!(collapse_slashes("/a"), "/a");
    }

    #[test]
    fn refuses_escapes() {
        for raw in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E/etc/passwd",
            "/.%2e/x",
            "/..%2fetc%2fpasswd",
            "/a%2fb",
            "/a%2Fb",
            "/..\\etc",
            "/a%5c..%5cb",
            "/a%00.txt",
            "/./a",
            "/a/.",
            "/%zz",
            "/%4",
            "relative",
            "*",
            "",
        ] {
            assert_eq!(segs(raw), None, "{raw}");
        }
    }
}
