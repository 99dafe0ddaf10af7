//! The protocol source (`protocol.json`), parsed and checked.
//!
//! Format: `{"sections": [{"title", "constants": [{"name", "type", "value", "doc"}]}], "reserved_names": [...]}`;
//! any other top-level key (such as `$comment`) is ignored. Types: `str`, `u16`, `u32`, `u64`.

use serde_json::Value as Json;

/// The whole protocol description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// Constant groups, in file order.
    pub sections: Vec<Section>,
    /// Reserved event names (besides every name starting with `RESERVED_PREFIX`).
    pub reserved_names: Vec<String>,
}

/// A titled group of constants (the title becomes a comment in the generated code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Short title.
    pub title: String,
    /// The constants, in file order.
    pub constants: Vec<Constant>,
}

/// One named constant, identical in Rust and JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constant {
    /// SCREAMING_SNAKE name.
    pub name: String,
    /// Typed value.
    pub value: Value,
    /// One-sentence documentation.
    pub doc: String,
}

/// A constant's typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string (`&str` in Rust).
    Str(String),
    /// An unsigned 16-bit integer (close codes, statuses).
    U16(u16),
    /// An unsigned 32-bit integer.
    U32(u32),
    /// An unsigned 64-bit integer (durations in milliseconds).
    U64(u64),
}

impl Value {
    /// The Rust type of the constant.
    pub fn rust_type(&self) -> &'static str {
        match self {
            Self::Str(_) => "&str",
            Self::U16(_) => "u16",
            Self::U32(_) => "u32",
            Self::U64(_) => "u64",
        }
    }

    /// The value as a Rust literal.
    pub fn rust_literal(&self) -> String {
        match self {
            Self::Str(s) => format!("{s:?}"),
            Self::U16(n) => n.to_string(),
            Self::U32(n) => n.to_string(),
            Self::U64(n) => n.to_string(),
        }
    }

    /// The value as a JavaScript (and TypeScript literal-type) literal.
    pub fn js_literal(&self) -> String {
        match self {
            Self::Str(s) => Json::String(s.clone()).to_string(),
            Self::U16(n) => n.to_string(),
            Self::U32(n) => n.to_string(),
            Self::U64(n) => n.to_string(),
        }
    }
}

impl Protocol {
    /// Parses and validates `protocol.json`; the error says what to fix.
    pub fn parse(text: &str) -> Result<Self, String> {
        let json: Json =
            serde_json::from_str(text).map_err(|err| format!("not valid JSON: {err}"))?;
        let sections = array(&json, "sections", "the top level")?
            .iter()
            .map(parse_section)
            .collect::<Result<Vec<_>, _>>()?;
        let reserved_names = array(&json, "reserved_names", "the top level")?
            .iter()
            .map(|name| {
                name.as_str()
                    .map(str::to_owned)
                    .ok_or("reserved_names holds only strings".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let protocol = Self {
            sections,
            reserved_names,
        };
        protocol.validate()?;
        Ok(protocol)
    }

    /// All constants, in file order.
    pub fn constants(&self) -> impl Iterator<Item = &Constant> {
        self.sections
            .iter()
            .flat_map(|section| section.constants.iter())
    }

    /// The constant called `name`.
    pub fn constant(&self, name: &str) -> Option<&Constant> {
        self.constants().find(|constant| constant.name == name)
    }

    fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for constant in self.constants() {
            let name = &constant.name;
            let well_formed = name.starts_with(|c: char| c.is_ascii_uppercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !well_formed {
                return Err(format!(
                    "constant name {name:?} must be SCREAMING_SNAKE_CASE"
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(format!("constant {name} is defined twice"));
            }
            if constant.doc.trim().is_empty()
                || constant.doc.contains("*/")
                || constant.doc.contains('\n')
            {
                return Err(format!("constant {name} needs a one-line doc without `*/`"));
            }
        }
        let prefix = match self.constant("RESERVED_PREFIX").map(|c| &c.value) {
            Some(Value::Str(prefix)) if !prefix.is_empty() => prefix.clone(),
            _ => return Err("a non-empty str constant RESERVED_PREFIX is required".into()),
        };
        let mut seen = std::collections::HashSet::new();
        for name in &self.reserved_names {
            if name.starts_with(&prefix) {
                return Err(format!(
                    "reserved name {name:?} is already reserved by RESERVED_PREFIX"
                ));
            }
            let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !well_formed {
                return Err(format!("reserved name {name:?} must be lower_snake_case"));
            }
            if !seen.insert(name.as_str()) {
                return Err(format!("reserved name {name:?} is listed twice"));
            }
        }
        Ok(())
    }
}

fn array<'a>(json: &'a Json, key: &str, context: &str) -> Result<&'a Vec<Json>, String> {
    json.get(key)
        .and_then(Json::as_array)
        .ok_or_else(|| format!("{context} needs an array {key:?}"))
}

fn string(json: &Json, key: &str, context: &str) -> Result<String, String> {
    json.get(key)
        .and_then(Json::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{context} needs a string {key:?}"))
}

fn parse_section(json: &Json) -> Result<Section, String> {
    let title = string(json, "title", "every section")?;
    let context = format!("section {title:?}");
    let constants = array(json, "constants", &context)?
        .iter()
        .map(parse_constant)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Section { title, constants })
}

fn parse_constant(json: &Json) -> Result<Constant, String> {
    let name = string(json, "name", "every constant")?;
    let context = format!("constant {name}");
    let doc = string(json, "doc", &context)?;
    let kind = string(json, "type", &context)?;
    let raw = json
        .get("value")
        .ok_or_else(|| format!("{context} needs a value"))?;
    let number = || {
        raw.as_u64()
            .ok_or_else(|| format!("{context}: value must be an unsigned integer"))
    };
    let out_of_range = |_| format!("{context}: value {raw} does not fit in {kind}");
    let value = match kind.as_str() {
        "str" => Value::Str(
            raw.as_str()
                .ok_or_else(|| format!("{context}: value must be a string"))?
                .to_owned(),
        ),
        "u16" => Value::U16(number()?.try_into().map_err(out_of_range)?),
        "u32" => Value::U32(number()?.try_into().map_err(out_of_range)?),
        "u64" => Value::U64(number()?),
        other => {
            return Err(format!(
                "{context}: unknown type {other:?} (use str, u16, u32 or u64)"
            ));
        }
    };
    Ok(Constant { name, value, doc })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"sections": [{"title": "T", "constants": [
        {"name": "RESERVED_PREFIX", "type": "str", "value": "_", "doc": "Prefix."},
        {"name": "CODE", "type": "u16", "value": 1003, "doc": "A code."}]}],
        "reserved_names": ["close", "new"]}"#;

    #[test]
    fn parses_typed_constants() {
        let protocol = Protocol::parse(MINIMAL).expect("valid");
        assert_eq!(
            protocol.constant("CODE").map(|c| &c.value),
            Some(&Value::U16(1003))
        );
        assert_eq!(protocol.reserved_names, ["close", "new"]);
    }

    #[test]
    fn rejects_bad_sources() {
        let cases = [
            (MINIMAL.replace("1003", "70000"), "does not fit"),
            (MINIMAL.replace("\"new\"", "\"close\""), "listed twice"),
            (MINIMAL.replace("\"new\"", "\"_new\""), "already reserved"),
            (MINIMAL.replace("\"u16\"", "\"i8\""), "unknown type"),
            (MINIMAL.replace("CODE", "code"), "SCREAMING_SNAKE"),
            (
                MINIMAL.replace("RESERVED_PREFIX", "OTHER"),
                "RESERVED_PREFIX is required",
            ),
        ];
        for (source, expected) in cases {
            let err = Protocol::parse(&source).expect_err(expected);
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }
}
