//! Flag key → position in [`Snapshot::flags`](super::Snapshot): an open-addressed table of the
//! keys' first and last eight bytes, so that a key of up to sixteen bytes is found by comparing
//! two words and its length, without hashing it byte by byte or calling `bcmp`.

use crate::context::word_of;

#[derive(Debug)]
pub(crate) struct FlagIndex {
    slots: Box<[Slot]>,
    /// `slots.len() - 1`; the length is a power of two at least twice the number of keys, so
    /// that a probe always meets an empty slot.
    mask: usize,
    /// How far to shift the multiplied hash to keep the bits that index `slots`.
    shift: u32,
    /// Every key, by position, for the keys longer than sixteen bytes.
    keys: Box<[Box<str>]>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    first: u64,
    last: u64,
    len: usize,
    position: usize,
}

const EMPTY: usize = usize::MAX;
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// The first and the last (at most) eight bytes: with the length, the whole of a key of up to
/// sixteen bytes.
#[inline]
fn words(bytes: &[u8]) -> (u64, u64) {
    let n = bytes.len();
    let word_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    if n >= 8 {
        (word_at(0), word_at(n - 8))
    } else {
        (word_of(bytes), 0)
    }
}

#[inline]
fn hash(bytes: &[u8], first: u64, last: u64) -> u64 {
    let mut h = first ^ last.rotate_left(29) ^ bytes.len() as u64;
    if bytes.len() > 16 {
        for chunk in bytes[8..].chunks_exact(8) {
            let word = chunk.try_into().map_or(0, u64::from_le_bytes);
            h = (h ^ word).wrapping_mul(MULTIPLIER).rotate_left(31);
        }
    }
    h.wrapping_mul(MULTIPLIER)
}

impl FlagIndex {
    /// The index of `keys`; a key given twice finds its last position.
    pub(crate) fn new<'a>(keys: impl ExactSizeIterator<Item = &'a str>) -> FlagIndex {
        let size = (keys.len() * 2).next_power_of_two().max(2);
        let mut index = FlagIndex {
            slots: vec![
                Slot {
                    first: 0,
                    last: 0,
                    len: 0,
                    position: EMPTY
                };
                size
            ]
            .into_boxed_slice(),
            mask: size - 1,
            shift: 64 - size.trailing_zeros(),
            keys: Box::new([]),
        };
        let keys: Vec<Box<str>> = keys.map(Into::into).collect();
        for (position, key) in keys.iter().enumerate() {
            let slot = index.slot_of(key, &keys);
            let (first, last) = words(key.as_bytes());
            index.slots[slot] = Slot {
                first,
                last,
                len: key.len(),
                position,
            };
        }
        index.keys = keys.into_boxed_slice();
        index
    }

    /// The slot holding `key`, or the empty slot where it would go.
    #[inline]
    fn slot_of(&self, key: &str, keys: &[Box<str>]) -> usize {
        let bytes = key.as_bytes();
        let (first, last) = words(bytes);
        let mut at = (hash(bytes, first, last) >> self.shift) as usize & self.mask;
        loop {
            let slot = &self.slots[at];
            if slot.position == EMPTY
                || (slot.first == first
                    && slot.last == last
                    && slot.len == bytes.len()
                    && (bytes.len() <= 16 || keys.get(slot.position).is_some_and(|k| **k == *key)))
            {
                return at;
            }
            at = (at + 1) & self.mask;
        }
    }

    /// The position of the flag `key`: inline for a key of up to sixteen bytes, which its
    /// words and length decide, out of line for a longer one.
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<usize> {
        let bytes = key.as_bytes();
        if bytes.len() > 16 {
            return self.get_long(key);
        }
        let (first, last) = words(bytes);
        let mut at = (hash(bytes, first, last) >> self.shift) as usize & self.mask;
        loop {
            let slot = self.slots.get(at)?;
            if slot.position == EMPTY {
                return None;
            }
            if slot.first == first && slot.last == last && slot.len == bytes.len() {
                return Some(slot.position);
            }
            at = (at + 1) & self.mask;
        }
    }

    #[inline(never)]
    fn get_long(&self, key: &str) -> Option<usize> {
        let position = self.slots[self.slot_of(key, &self.keys)].position;
        (position != EMPTY).then_some(position)
    }
}

#[cfg(test)]
mod tests {
    use super::FlagIndex;

    #[test]
    fn finds_every_key_and_nothing_else() {
        let mut keys: Vec<String> = (0..300)
            .map(|i| format!("checkout-v{i}-enabled-for-everyone"))
            .collect();
        keys.extend(
            [
                "",
                "a",
                "ab",
                "rules",
                "plain",
                "targets",
                "exactly-16-bytes",
            ]
            .map(String::from),
        );
        keys.extend((0..50).map(|i| format!("f{i}")));
        let index = FlagIndex::new(keys.iter().map(String::as_str));
        for (position, key) in keys.iter().enumerate() {
            assert_eq!(index.get(key), Some(position), "{key}");
        }
        for missing in [
            "b",
            "rule",
            "rules!",
            "exactly-16-bytez",
            "checkout-v300-enabled-for-everyone",
            "checkout-v1-enabled-for-everyonE",
        ] {
            assert_eq!(index.get(missing), None, "{missing}");
        }
        assert_eq!(FlagIndex::new([].into_iter()).get("x"), None);
    }

    #[test]
    fn a_key_given_twice_finds_its_last_position() {
        let index = FlagIndex::new(["a", "b", "a"].into_iter());
        assert_eq!(index.get("a"), Some(2));
        assert_eq!(index.get("b"), Some(1));
    }
}
