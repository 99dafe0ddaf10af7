//! Results: latency percentiles and the two output lines per run (one for people, one JSON line for
//! scripts).

use std::fmt::Write as _;

/// Latency samples in nanoseconds.
#[derive(Default)]
pub struct Latencies {
    samples: Vec<u64>,
}

impl Latencies {
    /// Adds one sample.
    pub fn push(&mut self, nanos: u64) {
        self.samples.push(nanos);
    }
    /// Sorts the samples and returns the summary (None without samples).
    pub fn summary(mut self) -> Option<Percentiles> {
        if self.samples.is_empty() {
            return None;
        }
        self.samples.sort_unstable();
        let s = &self.samples;
        let at = |q: f64| s[(((s.len() as f64) * q).ceil() as usize).clamp(1, s.len()) - 1];
        Some(Percentiles {
            p50: at(0.50),
            p99: at(0.99),
            max: s[s.len() - 1],
            count: s.len(),
        })
    }
}

/// Latency percentiles in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
    /// Number of samples.
    pub count: usize,
}

/// One value of a report field.
#[derive(Debug, PartialEq)]
pub enum Value {
    /// An integer.
    Int(u64),
    /// A number printed with the given decimals.
    Num(f64, usize),
    /// A string.
    Str(String),
    /// A flag.
    Bool(bool),
    /// Not measured.
    Missing,
}

/// A run's result: named fields, printed as a human line and a JSON line.
pub struct Report {
    headline: String,
    fields: Vec<(&'static str, Value)>,
    human: Vec<String>,
    warnings: Vec<String>,
}

impl Report {
    /// A report whose human line starts with `headline`.
    pub fn new(headline: String) -> Report {
        Report {
            headline,
            fields: Vec::new(),
            human: Vec::new(),
            warnings: Vec::new(),
        }
    }
    /// Adds a JSON field.
    pub fn field(&mut self, name: &'static str, value: Value) -> &mut Report {
        self.fields.push((name, value));
        self
    }
    /// Adds a phrase to the human line.
    pub fn say(&mut self, phrase: String) -> &mut Report {
        self.human.push(phrase);
        self
    }
    /// Adds a warning (printed on the human line and listed in the JSON `warnings` field).
    pub fn warn(&mut self, warning: String) -> &mut Report {
        self.warnings.push(warning);
        self
    }
    /// A field's value (for tests).
    #[cfg(test)]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    /// The warnings so far (for tests).
    #[cfg(test)]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
    /// The human line.
    pub fn human_line(&self) -> String {
        let mut line = format!("{}: {}", self.headline, self.human.join(", "));
        for w in &self.warnings {
            let _ = write!(line, " [WARNING: {w}]");
        }
        line
    }
    /// The JSON line.
    pub fn json_line(&self) -> String {
        let mut out = String::from("{");
        for (i, (name, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{name}\":");
            match value {
                Value::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Num(x, d) if x.is_finite() => {
                    let _ = write!(out, "{x:.d$}");
                }
                Value::Num(..) | Value::Missing => out.push_str("null"),
                Value::Str(s) => json_string(&mut out, s),
                Value::Bool(b) => {
                    let _ = write!(out, "{b}");
                }
            }
        }
        out.push_str(",\"warnings\":[");
        for (i, w) in self.warnings.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(&mut out, w);
        }
        out.push_str("]}");
        out
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Milliseconds from nanoseconds.
pub fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_ranks() {
        let mut l = Latencies::default();
        for n in 1..=100 {
            l.push(n);
        }
        let p = l.summary().expect("samples");
        assert_eq!((p.p50, p.p99, p.max, p.count), (50, 99, 100, 100));
        assert!(Latencies::default().summary().is_none());
    }

    #[test]
    fn json_line_is_valid_json_shape() {
        let mut r = Report::new("x".into());
        r.field("a", Value::Int(3))
            .field("b", Value::Num(1.23456, 2))
            .field("c", Value::Str("q\"\\".into()))
            .field("d", Value::Missing)
            .field("e", Value::Num(f64::NAN, 1));
        r.warn("w".into());
        assert_eq!(
            r.json_line(),
            r#"{"a":3,"b":1.23,"c":"q\"\\","d":null,"e":null,"warnings":["w"]}"#
        );
    }
}
