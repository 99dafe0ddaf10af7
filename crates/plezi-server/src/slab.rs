//! The connection table of one loop: slots reused through a free list, each with a generation
//! that is bumped when the slot is emptied, so a stale `ConnId` never matches a newer connection.

/// Marks the end of the free list.
const NONE: u32 = u32::MAX;

enum Slot<T> {
    Occupied(T),
    Vacant { next_free: u32 },
}

struct Entry<T> {
    generation: u32,
    slot: Slot<T>,
}

/// A slab of `T` addressed by `u32` slot numbers.
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free_head: u32,
    len: usize,
}

impl<T> Slab<T> {
    pub(crate) fn new() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free_head: NONE,
            len: 0,
        }
    }

    /// Number of occupied slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// One past the highest slot ever used (for scans).
    pub(crate) fn capacity_slots(&self) -> u32 {
        self.entries.len() as u32
    }

    /// The slot and generation `insert` would use next.
    pub(crate) fn next_key(&self) -> (u32, u32) {
        if self.free_head != NONE {
            (
                self.free_head,
                self.entries[self.free_head as usize].generation,
            )
        } else {
            (self.entries.len() as u32, 0)
        }
    }

    /// Stores `value`; returns its slot and generation. `None` when all `u32` slots are in use.
    pub(crate) fn insert(&mut self, value: T) -> Option<(u32, u32)> {
        let (slot, generation) = self.next_key();
        if slot == NONE {
            return None;
        }
        if self.free_head != NONE {
            let entry = &mut self.entries[slot as usize];
            if let Slot::Vacant { next_free } = entry.slot {
                self.free_head = next_free;
            }
            entry.slot = Slot::Occupied(value);
        } else {
            self.entries.push(Entry {
                generation,
                slot: Slot::Occupied(value),
            });
        }
        self.len += 1;
        Some((slot, generation))
    }

    /// The value in `slot`, whatever its generation.
    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        match self.entries.get_mut(slot as usize) {
            Some(Entry {
                slot: Slot::Occupied(v),
                ..
            }) => Some(v),
            _ => None,
        }
    }

    /// The value in `slot` if it still holds generation `generation`.
    pub(crate) fn get_checked(&mut self, slot: u32, generation: u32) -> Option<&mut T> {
        match self.entries.get_mut(slot as usize) {
            Some(Entry {
                generation: g,
                slot: Slot::Occupied(v),
            }) if *g == generation => Some(v),
            _ => None,
        }
    }

    /// The generation and value of an occupied slot.
    pub(crate) fn get_with_generation(&mut self, slot: u32) -> Option<(u32, &mut T)> {
        match self.entries.get_mut(slot as usize) {
            Some(Entry {
                generation,
                slot: Slot::Occupied(v),
            }) => Some((*generation, v)),
            _ => None,
        }
    }

    /// Empties `slot`, bumping its generation.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        let entry = self.entries.get_mut(slot as usize)?;
        if !matches!(entry.slot, Slot::Occupied(_)) {
            return None;
        }
        let old = std::mem::replace(
            &mut entry.slot,
            Slot::Vacant {
                next_free: self.free_head,
            },
        );
        entry.generation = entry.generation.wrapping_add(1);
        self.free_head = slot;
        self.len -= 1;
        match old {
            Slot::Occupied(v) => Some(v),
            Slot::Vacant { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_slot_gets_a_new_generation() {
        let mut s = Slab::new();
        let (a, ga) = s.insert("a").unwrap();
        let (b, _) = s.insert("b").unwrap();
        assert_eq!(s.remove(a), Some("a"));
        assert_eq!(s.remove(a), None);
        let (c, gc) = s.insert("c").unwrap();
        assert_eq!(c, a);
        assert_ne!(gc, ga);
        assert!(s.get_checked(a, ga).is_none());
        assert_eq!(s.get_checked(c, gc), Some(&mut "c"));
        assert_eq!(s.get_mut(b), Some(&mut "b"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn next_key_predicts_insert() {
        let mut s = Slab::new();
        for i in 0..5 {
            s.insert(i);
        }
        s.remove(2);
        s.remove(4);
        let predicted = s.next_key();
        assert_eq!(s.insert(9), Some(predicted));
        assert_eq!(s.capacity_slots(), 5);
    }
}
