//! The open WebSocket connections of one loop, by tag: a fan-out to one tag (a controller type)
//! visits only that tag's connections, and a fan-out to every WebSocket visits only WebSockets,
//! never the HTTP connections or the empty slots of the loop's slab.
//!
//! A connection joins when it becomes a WebSocket and leaves when it stops being one (before
//! `on_close`), so a slot reused by a newer connection is never reached through its old entry.
//! Both operations are `O(1)`: member lists are unordered, and each slot's positions in its lists
//! are kept beside them (`swap_remove`).

use std::collections::HashMap;

/// Position marker for "not in this list".
const ABSENT: u32 = u32::MAX;

/// Where one slot is listed.
#[derive(Clone, Copy)]
struct Entry {
    /// Position in the list of every WebSocket.
    all: u32,
    /// Position in its tag's list.
    tagged: u32,
    /// Its tag (meaningful when `tagged` is not [`ABSENT`]).
    tag: u64,
}

const NOT_LISTED: Entry = Entry {
    all: ABSENT,
    tagged: ABSENT,
    tag: 0,
};

/// Every WebSocket connection of a loop, and those of each tag.
#[derive(Default)]
pub(crate) struct TagIndex {
    all: Vec<u32>,
    tagged: HashMap<u64, Vec<u32>>,
    /// Indexed by slot.
    entries: Vec<Entry>,
}

impl TagIndex {
    /// `slot` became a WebSocket connection with `tag`.
    pub(crate) fn insert(&mut self, slot: u32, tag: Option<u64>) {
        // A slot is listed at most once: a stale entry is replaced.
        self.remove(slot);
        let i = slot as usize;
        if self.entries.len() <= i {
            self.entries.resize(i + 1, NOT_LISTED);
        }
        let mut entry = Entry {
            all: self.all.len() as u32,
            ..NOT_LISTED
        };
        self.all.push(slot);
        if let Some(tag) = tag {
            let members = self.tagged.entry(tag).or_default();
            entry.tagged = members.len() as u32;
            entry.tag = tag;
            members.push(slot);
        }
        self.entries[i] = entry;
    }

    /// `slot` stopped being a WebSocket connection (no effect if it was not listed).
    pub(crate) fn remove(&mut self, slot: u32) {
        let Some(entry) = self.entries.get_mut(slot as usize) else {
            return;
        };
        let Entry { all, tagged, tag } = std::mem::replace(entry, NOT_LISTED);
        if all != ABSENT
            && let Some(moved) = swap_remove(&mut self.all, all)
        {
            self.entries[moved as usize].all = all;
        }
        if tagged != ABSENT
            && let Some(members) = self.tagged.get_mut(&tag)
        {
            if let Some(moved) = swap_remove(members, tagged) {
                self.entries[moved as usize].tagged = tagged;
            }
            if members.is_empty() {
                self.tagged.remove(&tag);
            }
        }
    }

    /// The slots of the WebSocket connections with `tag` (every WebSocket when `None`), in no
    /// particular order.
    pub(crate) fn members(&self, tag: Option<u64>) -> &[u32] {
        match tag {
            None => &self.all,
            Some(tag) => self.tagged.get(&tag).map_or(&[], Vec::as_slice),
        }
    }
}

/// Removes `list[at]` by moving the last element there; returns the moved element, if any.
fn swap_remove(list: &mut Vec<u32>, at: u32) -> Option<u32> {
    let at = at as usize;
    if at >= list.len() {
        return None;
    }
    list.swap_remove(at);
    list.get(at).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn sorted(s: &[u32]) -> Vec<u32> {
        let mut v = s.to_vec();
        v.sort_unstable();
        v
    }

    #[test]
    fn members_by_tag_and_all() {
        let mut ix = TagIndex::default();
        ix.insert(0, Some(1));
        ix.insert(3, Some(2));
        ix.insert(5, Some(1));
        ix.insert(7, None);
        assert_eq!(sorted(ix.members(Some(1))), [0, 5]);
        assert_eq!(sorted(ix.members(Some(2))), [3]);
        assert_eq!(sorted(ix.members(None)), [0, 3, 5, 7]);
        assert!(ix.members(Some(9)).is_empty());
        ix.remove(0);
        assert_eq!(sorted(ix.members(Some(1))), [5]);
        assert_eq!(sorted(ix.members(None)), [3, 5, 7]);
        ix.remove(5);
        assert!(ix.members(Some(1)).is_empty());
        assert!(!ix.tagged.contains_key(&1), "an empty tag keeps no list");
    }

    #[test]
    fn removing_twice_changes_nothing() {
        let mut ix = TagIndex::default();
        ix.insert(2, Some(1));
        ix.insert(4, Some(1));
        ix.remove(2);
        ix.remove(2);
        assert_eq!(sorted(ix.members(Some(1))), [4]);
        assert_eq!(sorted(ix.members(None)), [4]);
    }

    #[test]
    fn a_reused_slot_is_listed_once_under_its_new_tag() {
        let mut ix = TagIndex::default();
        ix.insert(1, Some(1));
        ix.remove(1);
        ix.insert(1, Some(2));
        assert!(ix.members(Some(1)).is_empty());
        assert_eq!(ix.members(Some(2)), [1]);
        assert_eq!(ix.members(None), [1]);
        // A missed removal: the stale entry is replaced, not duplicated.
        ix.insert(1, Some(3));
        assert!(ix.members(Some(2)).is_empty());
        assert_eq!(ix.members(Some(3)), [1]);
        assert_eq!(ix.members(None), [1]);
    }

    /// Random churn against a model: the index always lists exactly the live connections.
    #[test]
    fn stays_right_under_churn() {
        let mut ix = TagIndex::default();
        let mut model: BTreeMap<u32, Option<u64>> = BTreeMap::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let slot = (next() % 64) as u32;
            match model.get(&slot).copied() {
                Some(_) => {
                    ix.remove(slot);
                    model.remove(&slot);
                }
                None => {
                    let tag = match next() % 4 {
                        0 => None,
                        t => Some(t),
                    };
                    ix.insert(slot, tag);
                    model.insert(slot, tag);
                }
            }
            for tag in [None, Some(1), Some(2), Some(3)] {
                let want: BTreeSet<u32> = model
                    .iter()
                    .filter(|(_, t)| tag.is_none() || **t == tag)
                    .map(|(s, _)| *s)
                    .collect();
                let got: BTreeSet<u32> = ix.members(tag).iter().copied().collect();
                assert_eq!(got.len(), ix.members(tag).len(), "a slot is listed twice");
                assert_eq!(got, want, "tag {tag:?}");
            }
        }
    }
}
