//! Key encoding: big-endian so that byte order is the logical order and a
//! prefix scan returns one owner's records sorted (UUID v7 ids sort by time).

use uuid::Uuid;

/// A value usable as (part of) a store key.
pub trait StoreKey {
    /// Appends the big-endian encoding of `self` to `out`.
    fn write_key(&self, out: &mut Vec<u8>);

    /// The encoded key on its own.
    fn to_key(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        self.write_key(&mut out);
        out
    }
}

impl StoreKey for Uuid {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl StoreKey for u64 {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl StoreKey for i64 {
    /// Flips the sign bit so negative numbers sort before positive ones.
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&((*self as u64) ^ (1 << 63)).to_be_bytes());
    }
}

impl StoreKey for u32 {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl StoreKey for str {
    /// Strings are written raw; put them last in a composite key or use a
    /// fixed-width part before them.
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl StoreKey for String {
    fn write_key(&self, out: &mut Vec<u8>) {
        self.as_str().write_key(out);
    }
}

impl StoreKey for [u8] {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<T: StoreKey + ?Sized> StoreKey for &T {
    fn write_key(&self, out: &mut Vec<u8>) {
        (**self).write_key(out);
    }
}

impl<A: StoreKey, B: StoreKey> StoreKey for (A, B) {
    fn write_key(&self, out: &mut Vec<u8>) {
        self.0.write_key(out);
        self.1.write_key(out);
    }
}

impl<A: StoreKey, B: StoreKey, C: StoreKey> StoreKey for (A, B, C) {
    fn write_key(&self, out: &mut Vec<u8>) {
        self.0.write_key(out);
        self.1.write_key(out);
        self.2.write_key(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sort_by_value_as_bytes() {
        assert!(1u64.to_key() < 256u64.to_key());
        assert!((-5i64).to_key() < 3i64.to_key());
        assert!(i64::MIN.to_key() < i64::MAX.to_key());
    }

    #[test]
    fn a_composite_key_starts_with_its_owner() {
        let owner = Uuid::now_v7();
        let key = (owner, 9u64).to_key();
        assert_eq!(&key[..16], owner.as_bytes());
        assert_eq!(key.len(), 24);
    }

    #[test]
    fn v7_ids_made_later_sort_later() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert!(a.to_key() < b.to_key());
    }
}
