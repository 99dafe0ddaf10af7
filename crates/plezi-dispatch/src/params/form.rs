//! `key=value&key2=value2` parsing (query strings and urlencoded bodies), with nested keys.
//!
//! Rules:
//! - pairs are separated by `&`; empty pairs (`a=1&&b=2`) are skipped; a pair without `=` is a key
//!   with the empty string as value; a pair with an empty key (`=x`) is skipped;
//! - keys and values are decoded with [`decode_form_component`] (`+` is a space); a bad escape is
//!   an error;
//! - a repeated key: the last value wins (`a=1&a=2` → `"2"`);
//! - nested keys: `user[name]=x` → `{"user":{"name":"x"}}`, `tags[]=a&tags[]=b` → `{"tags":["a","b"]}`.
//!   `[]` is only understood as the last group; a key that does not have the exact shape
//!   `base[k1][k2]…[]` (e.g. `a[b`, `[x]`, `a[]b`, `a[][b]`) is kept as one literal key.
//!   When a nested key meets a value of another shape (`a=1&a[b]=2`), the later one replaces it;
//! - values are JSON strings.

use serde_json::{Map, Value};

use super::decode::decode_form_component;
use super::{ParamSource, ParamsError, ParamsLimits};

/// Parses `input` and inserts its pairs into `into` (later pairs win).
pub(crate) fn parse_into(
    input: &str,
    source: ParamSource,
    limits: &ParamsLimits,
    into: &mut Map<String, Value>,
) -> Result<(), ParamsError> {
    let mut count = 0usize;
    for pair in input.split('&') {
        if pair.is_empty() {
            continue;
        }
        count += 1;
        if count > limits.max_params {
            return Err(ParamsError::TooManyParams {
                source,
                limit: limits.max_params,
            });
        }
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_form_component(raw_key)
            .map_err(|error| ParamsError::BadEncoding { source, error })?;
        if key.is_empty() {
            continue;
        }
        if key.len() > limits.max_key_bytes {
            return Err(ParamsError::KeyTooLong {
                source,
                limit: limits.max_key_bytes,
            });
        }
        let value = decode_form_component(raw_value)
            .map_err(|error| ParamsError::BadEncoding { source, error })?;
        insert(into, &key, value.into_owned(), source, limits)?;
    }
    Ok(())
}

/// One step of a nested key.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Push,
}

/// Splits `base[a][b][]` into `("base", [Key(a), Key(b), Push])`; `None` when the key is literal.
fn split_nested(key: &str) -> Option<(&str, Vec<Step<'_>>)> {
    let open = key.find('[')?;
    if open == 0 {
        return None;
    }
    let (base, mut rest) = key.split_at(open);
    let mut steps = Vec::new();
    while !rest.is_empty() {
        let inner_and_tail = rest.strip_prefix('[')?;
        let close = inner_and_tail.find(']')?;
        let inner = &inner_and_tail[..close];
        if inner.contains('[') {
            return None;
        }
        if matches!(steps.last(), Some(Step::Push)) {
            return None; // `[]` must be last
        }
        steps.push(if inner.is_empty() {
            Step::Push
        } else {
            Step::Key(inner)
        });
        rest = &inner_and_tail[close + 1..];
    }
    Some((base, steps))
}

fn insert(
    into: &mut Map<String, Value>,
    key: &str,
    value: String,
    source: ParamSource,
    limits: &ParamsLimits,
) -> Result<(), ParamsError> {
    let Some((base, steps)) = split_nested(key) else {
        into.insert(key.to_owned(), Value::String(value));
        return Ok(());
    };
    if steps.len() > limits.max_depth {
        return Err(ParamsError::TooDeep {
            source,
            limit: limits.max_depth,
        });
    }
    let mut slot = into.entry(base.to_owned()).or_insert(Value::Null);
    for step in steps {
        match step {
            Step::Push => {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(items) = slot {
                    items.push(Value::String(value));
                }
                return Ok(());
            }
            Step::Key(k) => {
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                let Value::Object(map) = slot else {
                    return Ok(()); // unreachable: just made it an object
                };
                slot = map.entry(k.to_owned()).or_insert(Value::Null);
            }
        }
    }
    *slot = Value::String(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Result<Value, ParamsError> {
        let mut map = Map::new();
        parse_into(s, ParamSource::Query, &ParamsLimits::default(), &mut map)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn flat_pairs_decode_and_last_wins() {
        assert_eq!(
            parse("a=1&b=x+y&c=%26&a=2").unwrap(),
            json!({"a":"2","b":"x y","c":"&"})
        );
    }

    #[test]
    fn empty_pairs_bare_keys_and_empty_keys() {
        assert_eq!(
            parse("&&flag&=skipped&e=").unwrap(),
            json!({"flag":"","e":""})
        );
        assert_eq!(parse("").unwrap(), json!({}));
    }

    #[test]
    fn value_may_contain_equals() {
        assert_eq!(parse("a=b=c").unwrap(), json!({"a":"b=c"}));
    }

    #[test]
    fn nested_objects_and_arrays() {
        assert_eq!(
            parse("user[name]=Ann&user[address][city]=Paris&tags[]=a&tags[]=b").unwrap(),
            json!({"user":{"name":"Ann","address":{"city":"Paris"}},"tags":["a","b"]})
        );
        // Encoded brackets count as brackets (keys are decoded first).
        assert_eq!(parse("u%5Bn%5D=1").unwrap(), json!({"u":{"n":"1"}}));
        assert_eq!(
            parse("m[a][]=1&m[a][]=2").unwrap(),
            json!({"m":{"a":["1","2"]}})
        );
    }

    #[test]
    fn malformed_nested_keys_stay_literal() {
        for key in ["a[b", "[x]", "a[]b", "a[][b]", "a[b[c]]", "a]"] {
            let v = parse(&format!(
                "{}=1",
                key.replace('[', "%5B").replace(']', "%5D")
            ))
            .unwrap();
            assert_eq!(v, json!({ key: "1" }), "key {key}");
        }
    }

    #[test]
    fn shape_conflicts_take_the_later_value() {
        assert_eq!(parse("a=1&a[b]=2").unwrap(), json!({"a":{"b":"2"}}));
        assert_eq!(parse("a[b]=2&a=1").unwrap(), json!({"a":"1"}));
        assert_eq!(parse("a[]=1&a[x]=2").unwrap(), json!({"a":{"x":"2"}}));
    }

    #[test]
    fn limits_are_enforced() {
        let limits = ParamsLimits {
            max_params: 2,
            max_key_bytes: 4,
            max_depth: 2,
            max_body_bytes: ParamsLimits::DEFAULT_MAX_BODY_BYTES,
        };
        let mut map = Map::new();
        let run =
            |s: &str, map: &mut Map<String, Value>| parse_into(s, ParamSource::Body, &limits, map);
        assert!(run("a=1&b=2", &mut map).is_ok());
        assert_eq!(
            run("a=1&b=2&c=3", &mut map),
            Err(ParamsError::TooManyParams {
                source: ParamSource::Body,
                limit: 2
            })
        );
        assert_eq!(
            run("abcde=1", &mut map),
            Err(ParamsError::KeyTooLong {
                source: ParamSource::Body,
                limit: 4
            })
        );
        assert_eq!(
            run("a[b][c][d]=1", &mut Map::new()),
            Err(ParamsError::KeyTooLong {
                source: ParamSource::Body,
                limit: 4
            })
        );
        let deep = ParamsLimits {
            max_key_bytes: 100,
            ..limits
        };
        assert_eq!(
            parse_into("a[b][c][d]=1", ParamSource::Body, &deep, &mut Map::new()),
            Err(ParamsError::TooDeep {
                source: ParamSource::Body,
                limit: 2
            })
        );
    }

    #[test]
    fn bad_encoding_is_an_error_naming_the_source() {
        let err = parse("a=%zz").unwrap_err();
        assert!(matches!(
            err,
            ParamsError::BadEncoding {
                source: ParamSource::Query,
                ..
            }
        ));
        assert!(parse("%zz=1").is_err());
    }
}
