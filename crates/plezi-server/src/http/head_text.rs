//! The text of a request head in one buffer: the method, the target and every header field laid
//! end to end in a single `String`, addressed by offsets.
//!
//! Parsing a head costs one allocation (the text, sized before it is written) instead of one per
//! method, target, name and value. The offsets of the first [`INLINE_FIELDS`] fields live inline;
//! a head with more fields spills the rest into a second allocation.
//!
//! Layout: `method ++ target ++ name₀ ++ value₀ ++ name₁ ++ value₁ ...`. Each field records where
//! its name and its value end; its name starts where the previous value ended (or the target, for
//! the first field), so two `u32` per field are enough.

use std::fmt;

/// Fields whose offsets are kept without a heap allocation: more than a typical browser sends.
pub(crate) const INLINE_FIELDS: usize = 24;

/// Where a field's name and value end in the text.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Ends {
    name: u32,
    value: u32,
}

/// Method, target and header fields of one request, in one string.
#[derive(Clone)]
pub(crate) struct HeadText {
    text: String,
    method_end: u32,
    target_end: u32,
    /// Fields in arrival order; the first `INLINE_FIELDS` here (`count` of them used).
    inline: [Ends; INLINE_FIELDS],
    /// Fields after the first `INLINE_FIELDS`.
    spilled: Vec<Ends>,
    count: u32,
}

/// Offsets are `u32`: text past 4 GiB is not kept (heads are limited to far less; only
/// [`HeadText::push_field`] from a hand-built request could get there).
fn offset(len: usize) -> Option<u32> {
    u32::try_from(len).ok()
}

impl HeadText {
    /// A head with this method and target and no fields yet. `capacity` is the expected total
    /// length of method, target, names and values and `fields` the expected number of fields, so
    /// that pushing them does not reallocate. A method and target that together pass 4 GiB (never from a socket) are kept empty.
    pub(crate) fn new(method: &str, target: &str, capacity: usize, fields: usize) -> HeadText {
        let (method, target, target_end) = match offset(method.len() + target.len()) {
            Some(end) => (method, target, end),
            None => ("", "", 0),
        };
        let mut text = String::with_capacity(capacity.max(target_end as usize));
        text.push_str(method);
        text.push_str(target);
        HeadText {
            text,
            // Not past `target_end`, which fits.
            method_end: method.len() as u32,
            target_end,
            inline: [Ends::default(); INLINE_FIELDS],
            spilled: Vec::with_capacity(fields.saturating_sub(INLINE_FIELDS)),
            count: 0,
        }
    }

    /// Appends a field and returns its value as stored. Bytes that are not UTF-8 (obs-text) are
    /// replaced with U+FFFD. A field that would take the text past 4 GiB is dropped.
    pub(crate) fn push_field(&mut self, name: &str, value: &[u8]) -> &str {
        let start = self.text.len();
        self.text.push_str(name);
        let name_end = self.text.len();
        match std::str::from_utf8(value) {
            Ok(v) => self.text.push_str(v),
            Err(_) => self.text.push_str(&String::from_utf8_lossy(value)),
        }
        let (Some(name), Some(value)) = (offset(name_end), offset(self.text.len())) else {
            self.text.truncate(start);
            return "";
        };
        let ends = Ends { name, value };
        match self.inline.get_mut(self.count as usize) {
            Some(slot) => *slot = ends,
            None => self.spilled.push(ends),
        }
        self.count += 1;
        &self.text[name_end..]
    }

    /// The method token.
    pub(crate) fn method(&self) -> &str {
        &self.text[..self.method_end as usize]
    }

    /// The request-target as sent.
    pub(crate) fn target(&self) -> &str {
        &self.text[self.method_end as usize..self.target_end as usize]
    }

    /// Number of header fields.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    /// The `i`th field as (name, value).
    fn field(&self, i: usize) -> (&str, &str) {
        let ends = |i: usize| match i.checked_sub(INLINE_FIELDS) {
            None => self.inline[i],
            Some(j) => self.spilled[j],
        };
        let start = match i.checked_sub(1) {
            None => self.target_end,
            Some(prev) => ends(prev).value,
        };
        let Ends { name, value } = ends(i);
        (
            &self.text[start as usize..name as usize],
            &self.text[name as usize..value as usize],
        )
    }

    /// All fields in arrival order, names as sent.
    pub(crate) fn fields(&self) -> impl DoubleEndedIterator<Item = (&str, &str)> + Clone + '_ {
        (0..self.len()).map(|i| self.field(i))
    }

    /// The value of the first field called `name` (compared case-insensitively).
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every value of the fields called `name` (compared case-insensitively), in order.
    pub(crate) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

impl PartialEq for HeadText {
    fn eq(&self, other: &HeadText) -> bool {
        self.method() == other.method()
            && self.target() == other.target()
            && self.fields().eq(other.fields())
    }
}

impl Eq for HeadText {}

impl fmt::Debug for HeadText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadText")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("fields", &self.fields().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_inline_and_spilled() {
        let mut h = HeadText::new("GET", "/a?b", 0, 0);
        let names: Vec<String> = (0..INLINE_FIELDS + 5).map(|i| format!("X-{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            let value = "v".repeat(i);
            assert_eq!(h.push_field(name, value.as_bytes()), value);
        }
        assert_eq!(h.method(), "GET");
        assert_eq!(h.target(), "/a?b");
        assert_eq!(h.len(), INLINE_FIELDS + 5);
        for (i, (n, v)) in h.fields().enumerate() {
            assert_eq!(n, names[i]);
            assert_eq!(v.len(), i);
        }
        assert_eq!(h.values("x-0").collect::<Vec<_>>(), [""]);
        assert_eq!(
            h.values(&format!("x-{}", INLINE_FIELDS + 1)).count(),
            1,
            "a spilled field is found by name"
        );
        assert_eq!(h.clone(), h);
    }

    #[test]
    fn empty_names_values_and_obs_text() {
        let mut h = HeadText::new("", "", 0, 0);
        h.push_field("A", b"");
        h.push_field("B", b"caf\xe9");
        h.push_field("C", b"x");
        assert_eq!(
            h.fields().collect::<Vec<_>>(),
            [("A", ""), ("B", "caf\u{fffd}"), ("C", "x")]
        );
        assert_eq!(h.method(), "");
        assert_eq!(h.target(), "");
        let other = HeadText::new("", "", 64, 30);
        assert_ne!(h, other);
        assert!(format!("{h:?}").contains("caf"));
    }
}
