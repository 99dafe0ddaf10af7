//! Redis-style glob matching for pattern subscriptions (the same rules as `PSUBSCRIBE`).
//!
//! `*` any run of bytes, `?` one byte, `[abc]` / `[a-z]` / `[^a]` a byte class, `\x` a literal `x`.
//! The in-process engine uses this to route named-channel publishes; the Redis engine lets Redis match
//! and uses it only to find which local connections a received message is for.

/// Does `text` match the Redis glob `pattern`?
///
/// ```
/// use plezi_messaging::glob_match;
/// assert!(glob_match("news.*", "news.sport"));
/// assert!(glob_match("h[ae]llo", "hallo"));
/// assert!(!glob_match("h[^e]llo", "hello"));
/// assert!(glob_match("a\\*b", "a*b"));
/// ```
pub fn glob_match(pattern: &str, text: &str) -> bool {
    match_bytes(pattern.as_bytes(), text.as_bytes())
}

/// Escapes glob metacharacters so `text` matches only itself when used as a pattern prefix.
pub(crate) fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn match_bytes(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where to resume after the most recent `*`: (pattern index after the star, text index it covers up to).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    while pi < p.len() && p[pi] == b'*' {
                        pi += 1;
                    }
                    if pi == p.len() {
                        return true;
                    }
                    star = Some((pi, ti));
                    continue;
                }
                _ => {
                    if let Some(next) = match_one(p, pi, t[ti]) {
                        pi = next;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        // Mismatch: let the last star swallow one more byte, or fail.
        match star {
            Some((sp, st)) => {
                star = Some((sp, st + 1));
                pi = sp;
                ti = st + 1;
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches one pattern element at `pi` (not a star) against byte `c`; returns the index after it.
fn match_one(p: &[u8], pi: usize, c: u8) -> Option<usize> {
    match p[pi] {
        b'?' => Some(pi + 1),
        b'\\' if pi + 1 < p.len() => (p[pi + 1] == c).then_some(pi + 2),
        b'[' => match_class(p, pi + 1, c),
        other => (other == c).then_some(pi + 1),
    }
}

/// Matches a `[...]` class starting after the `[`; an unterminated class ends at the pattern's end
/// (as in Redis).
fn match_class(p: &[u8], mut i: usize, c: u8) -> Option<usize> {
    let negate = i < p.len() && p[i] == b'^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < p.len() && p[i] != b']' {
        if p[i] == b'\\' && i + 1 < p.len() {
            matched |= p[i + 1] == c;
            i += 2;
        } else if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            let (mut lo, mut hi) = (p[i], p[i + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= p[i] == c;
            i += 1;
        }
    }
    let after = if i < p.len() { i + 1 } else { i };
    (matched != negate).then_some(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_examples() {
        // The examples from the Redis KEYS / PSUBSCRIBE documentation.
        for t in ["hello", "hallo", "hxllo"] {
            assert!(glob_match("h?llo", t));
        }
        for t in ["hllo", "heeeello", "hello"] {
            assert!(glob_match("h*llo", t));
        }
        assert!(glob_match("h[ae]llo", "hello") && glob_match("h[ae]llo", "hallo"));
        assert!(!glob_match("h[ae]llo", "hillo"));
        assert!(glob_match("h[^e]llo", "hallo") && !glob_match("h[^e]llo", "hello"));
        assert!(glob_match("h[a-b]llo", "hallo") && glob_match("h[a-b]llo", "hbllo"));
        assert!(!glob_match("h[a-b]llo", "hcllo"));
    }

    #[test]
    fn stars_and_escapes() {
        assert!(glob_match("*", ""));
        assert!(glob_match("**", "abc"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("*.sport", "news.sport"));
        assert!(glob_match("a\\*b", "a*b"));
        assert!(!glob_match("a\\*b", "axb"));
        assert!(glob_match("[\\]]", "]"));
        assert!(glob_match("[z-a]", "m"));
        assert!(!glob_match("abc", "abcd"));
        assert!(!glob_match("abcd", "abc"));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
    }

    #[test]
    fn escape_makes_literal() {
        let name = "app*[1]?\\";
        let pattern = format!("{}:*", glob_escape(name));
        assert!(glob_match(&pattern, &format!("{name}:x")));
        assert!(!glob_match(&pattern, "appX[1]?\\:x"));
    }
}
