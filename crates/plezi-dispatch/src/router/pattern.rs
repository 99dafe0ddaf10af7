//! One route pattern: parsing (at add time) and matching against decoded path segments.

use regex::Regex;

use super::RouteError;
use crate::params::{Params, decode_path_segment};

/// One segment of a parsed pattern.
#[derive(Debug)]
pub(crate) enum Segment {
    /// Must equal the path segment exactly (stored decoded).
    Literal(String),
    /// `:name`, `(:name)`, with an optional anchored constraint.
    Param {
        name: String,
        optional: bool,
        constraint: Option<Constraint>,
    },
    /// `*`: the rest of the path (zero or more segments).
    CatchAll,
}

impl Segment {
    /// Whether `value` (one decoded path segment) fits this pattern segment.
    fn accepts(&self, value: &str) -> bool {
        match self {
            Segment::Literal(lit) => lit == value,
            Segment::Param { constraint, .. } => {
                constraint.as_ref().is_none_or(|c| c.accepts(value))
            }
            Segment::CatchAll => true,
        }
    }
}

/// A `{regex}` constraint over one segment, anchored (`^(?:regex)$`).
#[derive(Debug)]
pub(crate) enum Constraint {
    /// A regex that is only an alternation of plain words (`publish`, `en|fr|he`): compared
    /// directly (the common case, cheaper than running the regex engine).
    OneOf(Vec<String>),
    /// Anything else.
    Regex(Regex),
}

impl Constraint {
    fn new(body: &str) -> Result<Constraint, regex::Error> {
        let plain = |w: &str| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if body.split('|').all(plain) {
            return Ok(Constraint::OneOf(
                body.split('|').map(str::to_owned).collect(),
            ));
        }
        // The body must parse on its own: otherwise an unbalanced `)` closes the anchoring group
        // (`a)|(b` would become `^(?:a)|(b)$`, accepting any segment that starts with "a").
        Regex::new(body)?;
        Regex::new(&format!("^(?:{body})$")).map(Constraint::Regex)
    }

    /// Whether one decoded segment satisfies the constraint.
    pub(crate) fn accepts(&self, value: &str) -> bool {
        match self {
            Constraint::OneOf(words) => words.iter().any(|w| w == value),
            Constraint::Regex(re) => re.is_match(value),
        }
    }
}

/// A parsed route pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    segments: Vec<Segment>,
    /// Number of required segments (the shortest path that can match).
    required: usize,
    /// Whether the last segment is `*`.
    catch_all: bool,
}

impl Pattern {
    /// Parses `pattern`; appends an optional `(:id)` when `auto_id` is set, the pattern does not
    /// name `id` and does not end in `*`.
    pub(crate) fn parse(pattern: &str, auto_id: bool) -> Result<Pattern, RouteError> {
        let mut segments = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let mut seen_optional = false;
        let mut catch_all = false;
        for raw in split_pattern(pattern)? {
            if catch_all {
                return Err(RouteError::CatchAllNotLast {
                    pattern: pattern.to_owned(),
                });
            }
            let segment = parse_segment(pattern, raw)?;
            match &segment {
                Segment::CatchAll => catch_all = true,
                Segment::Param {
                    name,
                    optional: true,
                    ..
                } => {
                    seen_optional = true;
                    check_unique(pattern, &mut names, name)?;
                }
                Segment::Param { name, .. } => {
                    if seen_optional {
                        return Err(RouteError::RequiredAfterOptional {
                            pattern: pattern.to_owned(),
                            segment: raw.to_owned(),
                        });
                    }
                    check_unique(pattern, &mut names, name)?;
                }
                Segment::Literal(_) => {
                    if seen_optional {
                        return Err(RouteError::RequiredAfterOptional {
                            pattern: pattern.to_owned(),
                            segment: raw.to_owned(),
                        });
                    }
                }
            }
            segments.push(segment);
        }
        if auto_id && !catch_all && !names.iter().any(|n| n == "id") {
            segments.push(Segment::Param {
                name: "id".to_owned(),
                optional: true,
                constraint: None,
            });
        }
        let required = segments
            .iter()
            .take_while(|s| {
                matches!(
                    s,
                    Segment::Literal(_)
                        | Segment::Param {
                            optional: false,
                            ..
                        }
                )
            })
            .count();
        Ok(Pattern {
            segments,
            required,
            catch_all,
        })
    }

    /// Whether the decoded path segments `path` match. Positional: an optional parameter is
    /// absent only when the path has run out, so `(:id){publish}` never skips a segment.
    pub(crate) fn is_match<S: AsRef<str>>(&self, path: &[S]) -> bool {
        if path.len() < self.required || (!self.catch_all && path.len() > self.segments.len()) {
            return false;
        }
        for (segment, value) in self.segments.iter().zip(path) {
            if matches!(segment, Segment::CatchAll) {
                return true;
            }
            if !segment.accepts(value.as_ref()) {
                return false;
            }
        }
        true
    }

    /// Inserts the captured parameters of a path that [`Pattern::is_match`] accepted.
    pub(crate) fn capture<S: AsRef<str>>(&self, path: &[S], into: &mut Params) {
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(_) => {}
                Segment::Param { name, .. } => {
                    if let Some(value) = path.get(i) {
                        into.insert(name.clone(), value.as_ref());
                    }
                }
                Segment::CatchAll => {
                    let rest: Vec<&str> = path
                        .get(i..)
                        .unwrap_or(&[])
                        .iter()
                        .map(AsRef::as_ref)
                        .collect();
                    into.insert("*", rest.join("/"));
                }
            }
        }
    }

    /// If the pattern is exactly one constrained parameter, its name and regex (for rewrites).
    pub(crate) fn into_rewrite(self) -> Option<(String, Constraint)> {
        let mut segments = self.segments.into_iter();
        match (segments.next(), segments.next()) {
            (
                Some(Segment::Param {
                    name,
                    constraint: Some(re),
                    ..
                }),
                None,
            ) => Some((name, re)),
            _ => None,
        }
    }
}

fn check_unique(pattern: &str, names: &mut Vec<String>, name: &str) -> Result<(), RouteError> {
    if names.iter().any(|n| n == name) {
        return Err(RouteError::DuplicateName {
            pattern: pattern.to_owned(),
            name: name.to_owned(),
        });
    }
    names.push(name.to_owned());
    Ok(())
}

/// Splits a pattern on `/` outside `{…}` constraints; empty segments are dropped.
fn split_pattern(pattern: &str) -> Result<Vec<&str>, RouteError> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut escaped = false;
    let mut start = 0;
    for (i, c) in pattern.char_indices() {
        if depth > 0 {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            continue;
        }
        match c {
            '{' => depth = 1,
            '/' => {
                if start < i {
                    out.push(&pattern[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(RouteError::Syntax {
            pattern: pattern.to_owned(),
            segment: pattern[start..].to_owned(),
            reason: "unclosed '{': a constraint is written :name{regex}; braces inside the regex must balance or be escaped as \\{ \\}".to_owned(),
        });
    }
    if start < pattern.len() {
        out.push(&pattern[start..]);
    }
    Ok(out)
}

fn parse_segment(pattern: &str, raw: &str) -> Result<Segment, RouteError> {
    let syntax = |reason: &str| RouteError::Syntax {
        pattern: pattern.to_owned(),
        segment: raw.to_owned(),
        reason: reason.to_owned(),
    };
    if raw == "*" {
        return Ok(Segment::CatchAll);
    }
    let (name, optional, rest) = if let Some(inner) = raw.strip_prefix("(:") {
        let Some(close) = inner.find(')') else {
            return Err(syntax(
                "unclosed '(': an optional parameter is written (:name)",
            ));
        };
        (&inner[..close], true, &inner[close + 1..])
    } else if let Some(inner) = raw.strip_prefix(':') {
        let end = inner.find('{').unwrap_or(inner.len());
        (&inner[..end], false, &inner[end..])
    } else if raw.starts_with('(') {
        return Err(syntax("an optional parameter is written (:name)"));
    } else {
        return parse_literal(raw).map_err(|reason| syntax(&reason));
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(RouteError::BadName {
            pattern: pattern.to_owned(),
            name: name.to_owned(),
        });
    }
    let constraint = if rest.is_empty() {
        None
    } else {
        let Some(body) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
            return Err(syntax(
                "unexpected text after the parameter name; a constraint is written :name{regex} or (:name){regex} and ends the segment",
            ));
        };
        if body.is_empty() {
            return Err(syntax(
                "empty constraint '{}'; write a regex or drop the braces",
            ));
        }
        let re = Constraint::new(body).map_err(|e| RouteError::BadRegex {
            pattern: pattern.to_owned(),
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        Some(re)
    };
    Ok(Segment::Param {
        name: name.to_owned(),
        optional,
        constraint,
    })
}

fn parse_literal(raw: &str) -> Result<Segment, String> {
    if let Some(c) = raw
        .chars()
        .find(|c| matches!(c, '(' | ')' | '{' | '}' | '*'))
    {
        return Err(format!(
            "'{c}' in a literal segment; parameters are written :name, (:name) or :name{{regex}}, and '*' must be a whole segment"
        ));
    }
    decode_path_segment(raw)
        .map(|s| Segment::Literal(s.into_owned()))
        .map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Pattern) -> Vec<String> {
        p.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => format!("={l}"),
                Segment::Param {
                    name,
                    optional,
                    constraint,
                } => format!(
                    "{}{name}{}",
                    if *optional { "?" } else { ":" },
                    if constraint.is_some() { "{}" } else { "" }
                ),
                Segment::CatchAll => "*".to_owned(),
            })
            .collect()
    }

    #[test]
    fn every_syntax_form_parses() {
        let p = Pattern::parse("/users/:uid/(:id){\\d+}/(:fmt)", true).unwrap();
        assert_eq!(names(&p), ["=users", ":uid", "?id{}", "?fmt"]);
        let p = Pattern::parse("/a/:x{[a-z]{2,3}}/*", true).unwrap();
        assert_eq!(names(&p), ["=a", ":x{}", "*"]);
        let p = Pattern::parse("no/leading/slash", true).unwrap();
        assert_eq!(names(&p), ["=no", "=leading", "=slash", "?id"]);
        let p = Pattern::parse("/", true).unwrap();
        assert_eq!(names(&p), ["?id"]);
        let p = Pattern::parse("", false).unwrap();
        assert!(names(&p).is_empty());
        let p = Pattern::parse("/caf%C3%A9/v1:batch", false).unwrap();
        assert_eq!(names(&p), ["=café", "=v1:batch"]);
    }

    #[test]
    fn regex_may_contain_slashes_and_escaped_braces() {
        let p = Pattern::parse("/:x{a/b|\\{}", false).unwrap();
        assert!(p.is_match(&["a/b"]));
        assert!(p.is_match(&["{"]));
        assert!(!p.is_match(&["a"]));
    }

    #[test]
    fn auto_id_rules() {
        assert_eq!(names(&Pattern::parse("/x", true).unwrap()), ["=x", "?id"]);
        assert_eq!(
            names(&Pattern::parse("/x/:id", true).unwrap()),
            ["=x", ":id"]
        );
        assert_eq!(
            names(&Pattern::parse("/(:id){publish}/(:title)", true).unwrap()),
            ["?id{}", "?title"]
        );
        assert_eq!(names(&Pattern::parse("/x/*", true).unwrap()), ["=x", "*"]);
        assert_eq!(names(&Pattern::parse("/x", false).unwrap()), ["=x"]);
    }

    #[test]
    fn syntax_errors() {
        let bad = [
            "/a/:",
            "/a/(:)",
            "/a/:na-me",
            "/a/(:x",
            "/a/(x)",
            "/a/:x{",
            "/a/:x{}",
            "/a/:x{a}b",
            "/a/(:x)y",
            "/a/b*",
            "/a/{x}",
            "/a/x)",
            "/a/100%",
        ];
        for p in bad {
            let err = Pattern::parse(p, true).expect_err(p);
            assert!(
                matches!(err, RouteError::Syntax { .. } | RouteError::BadName { .. }),
                "{p}: {err:?}"
            );
        }
    }

    #[test]
    fn structural_errors() {
        assert!(matches!(
            Pattern::parse("/(:a)/:b", true),
            Err(RouteError::RequiredAfterOptional { segment, .. }) if segment == ":b"
        ));
        assert!(matches!(
            Pattern::parse("/(:a)/lit", true),
            Err(RouteError::RequiredAfterOptional { segment, .. }) if segment == "lit"
        ));
        assert!(matches!(
            Pattern::parse("/:a/:a", true),
            Err(RouteError::DuplicateName { name, .. }) if name == "a"
        ));
        assert!(matches!(
            Pattern::parse("/*/x", true),
            Err(RouteError::CatchAllNotLast { .. })
        ));
        assert!(matches!(
            Pattern::parse("/:a{(}", true),
            Err(RouteError::BadRegex { name, .. }) if name == "a"
        ));
        // Optional followed by catch-all is fine.
        assert!(Pattern::parse("/(:a)/*", true).is_ok());
    }

    #[test]
    fn plain_word_alternations_skip_the_regex_engine() {
        let c = Constraint::new("en|fr|he-IL").unwrap();
        assert!(matches!(c, Constraint::OneOf(ref w) if w.len() == 3));
        assert!(c.accepts("he-IL") && c.accepts("en") && !c.accepts("e") && !c.accepts("en|fr"));
        for body in ["a|", "|a", "a.b", "\\d+", "a|b*"] {
            assert!(
                matches!(Constraint::new(body), Ok(Constraint::Regex(_))),
                "{body}"
            );
        }
        // An empty alternative stays a regex and keeps regex semantics.
        assert!(Constraint::new("a|").unwrap().accepts(""));
    }

    #[test]
    fn constraints_are_anchored() {
        let p = Pattern::parse("/:n{\\d+}", false).unwrap();
        assert!(p.is_match(&["123"]));
        assert!(!p.is_match(&["12a"]));
        assert!(!p.is_match(&["a12"]));
        let p = Pattern::parse("/:n{en|fr}", false).unwrap();
        assert!(p.is_match(&["en"]));
        assert!(!p.is_match(&["english"]));
    }

    #[test]
    fn positional_optional_matching() {
        let p = Pattern::parse("/(:id){publish}/(:title)", true).unwrap();
        assert!(p.is_match::<&str>(&[]));
        assert!(p.is_match(&["publish"]));
        assert!(p.is_match(&["publish", "t"]));
        assert!(!p.is_match(&["echo"]), "an optional never skips a segment");
        assert!(!p.is_match(&["publish", "t", "extra"]));
    }

    #[test]
    fn capture_fills_names_and_catch_all() {
        let p = Pattern::parse("/f/:a/*", true).unwrap();
        let mut params = Params::new();
        p.capture(&["f", "x", "y", "z"], &mut params);
        assert_eq!(params.get_str("a"), Some("x"));
        assert_eq!(params.get_str("*"), Some("y/z"));
        let mut params = Params::new();
        p.capture(&["f", "x"], &mut params);
        assert_eq!(params.get_str("*"), Some(""));
        let p = Pattern::parse("/(:a)/(:b)", false).unwrap();
        let mut params = Params::new();
        p.capture(&["1"], &mut params);
        assert_eq!(params.get_str("a"), Some("1"));
        assert!(!params.contains_key("b"));
    }
}
