//! HTTP-level policies that protect every [`Service`](crate::Service), raw ones included: which
//! origins may open WebSockets ([`OriginPolicy`]), which cross-site requests with a non-safe
//! method are refused (the same policy, following Go's `http.CrossOriginProtection`), and CORS
//! ([`Cors`], opt-in). Pure decisions over header values, no sockets; the connection layer applies
//! them (`docs/security.md`, sections `origins` and `cross-site`).

mod cors;
mod policy;

pub use cors::{Cors, CorsError, Preflight};
pub use policy::{OriginListError, OriginPolicy, Refusal};

/// Whether `s` is an HTTP token (RFC 9110 `tchar`s): what header names and methods are made of.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Methods that must not change state (RFC 9110 §9.2.1); the cross-site check lets them pass.
pub(crate) fn is_safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// The policies one server applies, shared by its loops.
#[derive(Clone, Debug, Default)]
pub(crate) struct Guards {
    pub(crate) origins: OriginPolicy,
    pub(crate) cors: Option<Cors>,
}
