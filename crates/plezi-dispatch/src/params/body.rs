//! Request bodies as params: `application/json` and `application/x-www-form-urlencoded`.
//!
//! - JSON (`application/json` or any `application/*+json`, parameters such as `charset` ignored):
//!   an object's top-level keys become params; any other JSON value (array, string, number…) is
//!   kept whole under the key [`JSON_KEY`] (`"_json"`). An empty or all-whitespace body gives no
//!   params. Invalid JSON is [`ParamsError::InvalidJson`] (the caller answers 400).
//! - urlencoded: parsed like a query string (see the `form` rules), must be UTF-8.
//! - any other content type (multipart included) or none: the body is not parsed; the handler can
//!   still read the raw body from the request.

use serde_json::{Map, Value};

use super::{ParamSource, ParamsError, ParamsLimits, form};

/// The key under which a JSON body that is not an object is stored (`[1,2]` → `{"_json":[1,2]}`).
pub const JSON_KEY: &str = "_json";

/// How a body will be read, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json` or `application/*+json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    UrlEncoded,
    /// Anything else: not parsed into params.
    Other,
}

impl BodyKind {
    /// Classifies a `Content-Type` header value (case-insensitive, parameters ignored).
    pub fn from_content_type(content_type: Option<&str>) -> BodyKind {
        let Some(ct) = content_type else {
            return BodyKind::Other;
        };
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/json")
            || (starts_with_ignore_case(essence, "application/")
                && ends_with_ignore_case(essence, "+json"))
        {
            BodyKind::Json
        } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            BodyKind::UrlEncoded
        } else {
            BodyKind::Other
        }
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Parses `body` according to `content_type` into `into` (body keys overwrite existing ones).
pub(crate) fn parse_into(
    content_type: Option<&str>,
    body: &[u8],
    limits: &ParamsLimits,
    into: &mut Map<String, Value>,
) -> Result<(), ParamsError> {
    let kind = BodyKind::from_content_type(content_type);
    if kind != BodyKind::Other && body.len() > limits.max_body_bytes {
        return Err(ParamsError::BodyTooLarge {
            limit: limits.max_body_bytes,
        });
    }
    match kind {
        BodyKind::Other => Ok(()),
        BodyKind::UrlEncoded => {
            let text = std::str::from_utf8(body).map_err(|_| ParamsError::BadEncoding {
                source: ParamSource::Body,
                error: super::DecodeError::NotUtf8,
            })?;
            form::parse_into(text, ParamSource::Body, limits, into)
        }
        BodyKind::Json => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            let value: Value = serde_json::from_slice(body)
                .map_err(|e| ParamsError::InvalidJson(e.to_string()))?;
            match value {
                Value::Object(map) => {
                    if map.len() > limits.max_params {
                        return Err(ParamsError::TooManyParams {
                            source: ParamSource::Body,
                            limit: limits.max_params,
                        });
                    }
                    if map.keys().any(|k| k.len() > limits.max_key_bytes) {
                        return Err(ParamsError::KeyTooLong {
                            source: ParamSource::Body,
                            limit: limits.max_key_bytes,
                        });
                    }
                    into.extend(map);
                }
                other => {
                    into.insert(JSON_KEY.to_owned(), other);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(ct: Option<&str>, body: &[u8]) -> Result<Value, ParamsError> {
        let mut map = Map::new();
        parse_into(ct, body, &ParamsLimits::default(), &mut map)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn content_types_are_classified() {
        use BodyKind::*;
        let cases = [
            (Some("application/json"), Json),
            (Some("Application/JSON; charset=utf-8"), Json),
            (Some("application/vnd.api+json"), Json),
            (Some("application/x-www-form-urlencoded"), UrlEncoded),
            (
                Some("application/x-www-form-urlencoded;charset=UTF-8"),
                UrlEncoded,
            ),
            (Some("multipart/form-data; boundary=x"), Other),
            (Some("text/plain"), Other),
            (Some("text/json+xml"), Other),
            (Some("+json"), Other),
            (None, Other),
        ];
        for (ct, kind) in cases {
            assert_eq!(BodyKind::from_content_type(ct), kind, "{ct:?}");
        }
    }

    #[test]
    fn json_object_keys_keep_their_types() {
        let v = parse(
            Some("application/json"),
            br#"{"id":"chat","n":3,"nested":{"a":[1,true,null]}}"#,
        )
        .unwrap();
        assert_eq!(v, json!({"id":"chat","n":3,"nested":{"a":[1,true,null]}}));
    }

    #[test]
    fn json_non_object_goes_under_json_key() {
        assert_eq!(
            parse(Some("application/json"), b"[1,2]").unwrap(),
            json!({"_json":[1,2]})
        );
        assert_eq!(
            parse(Some("application/json"), b"\"s\"").unwrap(),
            json!({"_json":"s"})
        );
    }

    #[test]
    fn empty_json_body_gives_nothing_invalid_json_is_an_error() {
        assert_eq!(
            parse(Some("application/json"), b" \r\n").unwrap(),
            json!({})
        );
        assert_eq!(parse(Some("application/json"), b"").unwrap(), json!({}));
        let err = parse(Some("application/json"), b"{\"a\":").unwrap_err();
        assert!(matches!(err, ParamsError::InvalidJson(_)));
        assert!(parse(Some("application/json"), b"{} x").is_err());
    }

    #[test]
    fn parsed_bodies_are_capped_other_bodies_are_not() {
        let limits = ParamsLimits {
            max_body_bytes: 10,
            ..ParamsLimits::default()
        };
        let mut map = Map::new();
        let big = br#"{"a":"0123456789"}"#;
        let err = parse_into(Some("application/json"), big, &limits, &mut map).unwrap_err();
        assert_eq!(err, ParamsError::BodyTooLarge { limit: 10 });
        assert_eq!(err.status(), 413);
        assert!(
            parse_into(
                Some("application/x-www-form-urlencoded"),
                b"a=0123456789",
                &limits,
                &mut map
            )
            .is_err()
        );
        assert!(parse_into(Some("text/plain"), big, &limits, &mut map).is_ok());
        assert!(parse_into(Some("application/json"), br#"{"a":1}"#, &limits, &mut map).is_ok());
    }

    #[test]
    fn json_limits() {
        let limits = ParamsLimits {
            max_params: 1,
            max_key_bytes: 3,
            max_depth: 8,
            max_body_bytes: ParamsLimits::DEFAULT_MAX_BODY_BYTES,
        };
        let mut map = Map::new();
        assert!(matches!(
            parse_into(
                Some("application/json"),
                br#"{"a":1,"b":2}"#,
                &limits,
                &mut map
            ),
            Err(ParamsError::TooManyParams { .. })
        ));
        assert!(matches!(
            parse_into(
                Some("application/json"),
                br#"{"abcd":1}"#,
                &limits,
                &mut map
            ),
            Err(ParamsError::KeyTooLong { .. })
        ));
        assert!(map.is_empty(), "a rejected body adds nothing");
    }

    #[test]
    fn urlencoded_body_and_bad_utf8() {
        assert_eq!(
            parse(Some("application/x-www-form-urlencoded"), b"a=1&b=x+y").unwrap(),
            json!({"a":"1","b":"x y"})
        );
        assert!(matches!(
            parse(Some("application/x-www-form-urlencoded"), b"a=\xff"),
            Err(ParamsError::BadEncoding {
                source: ParamSource::Body,
                ..
            })
        ));
    }

    #[test]
    fn other_bodies_are_ignored() {
        assert_eq!(parse(Some("text/plain"), b"a=1").unwrap(), json!({}));
        assert_eq!(parse(None, b"{\"a\":1}").unwrap(), json!({}));
    }
}
