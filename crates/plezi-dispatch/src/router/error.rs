//! The error a bad route pattern gives when it is added.

use std::fmt;

/// A route pattern that cannot be used; returned by `Router::add*` so a typo fails at startup,
/// not at the first request. Every variant carries the offending pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// A segment that is none of the known forms.
    Syntax {
        /// The whole pattern as given.
        pattern: String,
        /// The segment that failed.
        segment: String,
        /// What is wrong and how to write it instead.
        reason: String,
    },
    /// A parameter name that is empty or has characters other than `A-Z a-z 0-9 _`.
    BadName {
        /// The whole pattern as given.
        pattern: String,
        /// The name as written.
        name: String,
    },
    /// The same parameter name twice in one pattern.
    DuplicateName {
        /// The whole pattern as given.
        pattern: String,
        /// The repeated name.
        name: String,
    },
    /// A required segment (literal or `:name`) after an optional `(:name)`.
    RequiredAfterOptional {
        /// The whole pattern as given.
        pattern: String,
        /// The required segment.
        segment: String,
    },
    /// A segment after the catch-all `*`.
    CatchAllNotLast {
        /// The whole pattern as given.
        pattern: String,
    },
    /// A `{regex}` constraint that does not compile.
    BadRegex {
        /// The whole pattern as given.
        pattern: String,
        /// The parameter it constrains.
        name: String,
        /// The regex engine's message.
        message: String,
    },
    /// A rewrite pattern that is not a single constrained parameter.
    BadRewrite {
        /// The whole pattern as given.
        pattern: String,
    },
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::Syntax {
                pattern,
                segment,
                reason,
            } => write!(f, "route '{pattern}': segment '{segment}': {reason}"),
            RouteError::BadName { pattern, name } => write!(
                f,
                "route '{pattern}': parameter name '{name}' is invalid; use one or more of A-Z a-z 0-9 _"
            ),
            RouteError::DuplicateName { pattern, name } => write!(
                f,
                "route '{pattern}': parameter '{name}' appears twice; give each parameter its own name"
            ),
            RouteError::RequiredAfterOptional { pattern, segment } => write!(
                f,
                "route '{pattern}': required segment '{segment}' follows an optional parameter; \
                 make it optional '(:name)' or move it before the optional ones"
            ),
            RouteError::CatchAllNotLast { pattern } => write!(
                f,
                "route '{pattern}': '*' takes the rest of the path, so it must be the last segment"
            ),
            RouteError::BadRegex {
                pattern,
                name,
                message,
            } => write!(
                f,
                "route '{pattern}': the constraint of '{name}' is not a valid regex: {message}"
            ),
            RouteError::BadRewrite { pattern } => write!(
                f,
                "rewrite '{pattern}': a rewrite is one constrained parameter such as \
                 '(:locale){{en|fr|he}}' (it strips the first path segment when the regex matches)"
            ),
        }
    }
}

impl std::error::Error for RouteError {}
