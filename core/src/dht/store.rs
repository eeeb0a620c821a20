//! Where a node keeps the values it holds: a [`Store`] trait, a
//! fixed-capacity [`FixedStore`] that needs no allocator, and (with
//! `alloc`) a growable [`MapStore`].
//!
//! Every store applies the same version rule (PAST files are immutable; we
//! add versions so a key can be updated): a newer version replaces an older
//! one, an older one is refused, and the same version is accepted again only
//! with the same bytes (an idempotent re-store), so two writers that picked
//! one version for different values cannot both win.

use core::fmt;

use crate::id::Id;
use crate::time::Instant;

/// What a store keeps beside a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Meta {
    /// The value's version; higher replaces lower.
    pub version: u64,
    /// The key is SHA-1 of the value (self-authenticating, PAST §2.1).
    pub content: bool,
    /// Held for a replica that had no room (PAST §3.3's replica
    /// diversion): not this node's own replica, and never handed off.
    pub diverted: bool,
    /// The bytes are a signed value's envelope (BEP 44, [`super::signed`]),
    /// checked when accepted: only its owner can write the key.
    pub signed: bool,
    /// A tombstone: the key was deleted at `version`. It holds no value
    /// (a signed one holds its owner's signed deletion) and keeps older
    /// versions from coming back until it expires.
    pub deleted: bool,
    /// When replicas drop it, on this node's clock (`None`: never). On the
    /// wire it travels as the time left, so clocks need not agree.
    pub expires: Option<Instant>,
}

impl Meta {
    /// Whether it has expired at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        self.expires.is_some_and(|t| t <= now)
    }
}

/// A stored value, borrowed from its store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// Its version and kind.
    pub meta: Meta,
    /// The value's bytes.
    pub value: &'a [u8],
}

/// Why a store refused a value. Nothing changed in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// No room for it (PAST diverts such a replica to another node).
    Full,
    /// The store holds this key at `current`, which is newer (or the same
    /// version with different bytes).
    Stale {
        /// The version held.
        current: u64,
    },
    /// The key holds a content-hash or signed value, which a value that
    /// proves nothing cannot replace at any version.
    Protected,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Full => f.write_str("the store is full"),
            StoreError::Stale { current } => write!(f, "version {current} is already stored"),
            StoreError::Protected => f.write_str("the key holds a content-hash or signed value"),
        }
    }
}

impl core::error::Error for StoreError {}

/// Storage for the values a node holds, keyed by id, iterable in numeric
/// key order (replica maintenance summarises ranges of keys).
pub trait Store {
    /// The value stored under `key`.
    fn get(&self, key: Id) -> Option<Item<'_>>;

    /// Stores `value` under `key` by the version rule in the module docs.
    fn insert(&mut self, key: Id, meta: Meta, value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key`; whether it was there.
    fn remove(&mut self, key: Id) -> bool;

    /// How many values are stored.
    fn len(&self) -> usize;

    /// Whether nothing is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest key `>= from` (numerically, no wrap), with its meta.
    fn first_from(&self, from: Id) -> Option<(Id, Meta)>;

    /// The smallest key `> after`, with its meta.
    fn next_after(&self, after: Id) -> Option<(Id, Meta)> {
        if after == Id::MAX {
            return None;
        }
        self.first_from(after.wrapping_add(crate::id::Distance::ONE))
    }
}

/// The version rule shared by every store: `Ok` if `new` may replace `old`.
/// A value whose key proves it (content hash, owner's signature; checked
/// before it reaches the store) replaces one that proves nothing whatever
/// the versions, and is never replaced by one: a squatter's copy at
/// version 2⁶⁴ − 1 cannot lock the owner out of its own key.
pub fn admits(old: Item<'_>, new: Meta, value: &[u8]) -> Result<(), StoreError> {
    match (super::signed::proven(old.meta), super::signed::proven(new)) {
        (false, true) => return Ok(()),
        (true, false) => return Err(StoreError::Protected),
        _ => {}
    }
    let newer = new.version > old.meta.version;
    let same = new.version == old.meta.version && old.value == value;
    if newer || same {
        Ok(())
    } else {
        Err(StoreError::Stale {
            current: old.meta.version,
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: Id,
    meta: Meta,
    off: usize,
    len: usize,
}

/// A store of at most `N` values and `BYTES` bytes of values in total, in
/// fixed arrays: no allocator. Values are packed in one arena; removing one
/// moves the bytes after it down, so the arena never fragments.
#[derive(Clone, Debug)]
pub struct FixedStore<const N: usize, const BYTES: usize> {
    /// Sorted by key.
    entries: heapless::Vec<Entry, N>,
    arena: heapless::Vec<u8, BYTES>,
}

impl<const N: usize, const BYTES: usize> Default for FixedStore<N, BYTES> {
    fn default() -> Self {
        FixedStore {
            entries: heapless::Vec::new(),
            arena: heapless::Vec::new(),
        }
    }
}

impl<const N: usize, const BYTES: usize> FixedStore<N, BYTES> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of values held.
    pub fn bytes_used(&self) -> usize {
        self.arena.len()
    }

    fn find(&self, key: Id) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| e.key.cmp(&key))
    }

    fn remove_at(&mut self, i: usize) {
        let e = self.entries.remove(i);
        let end = e.off + e.len;
        self.arena.copy_within(end.., e.off);
        self.arena.truncate(self.arena.len() - e.len);
        for other in self.entries.iter_mut().filter(|o| o.off > e.off) {
            other.off -= e.len;
        }
    }
}

impl<const N: usize, const BYTES: usize> Store for FixedStore<N, BYTES> {
    fn get(&self, key: Id) -> Option<Item<'_>> {
        let e = &self.entries[self.find(key).ok()?];
        Some(Item {
            meta: e.meta,
            value: &self.arena[e.off..e.off + e.len],
        })
    }

    fn insert(&mut self, key: Id, meta: Meta, value: &[u8]) -> Result<(), StoreError> {
        let (freed, replacing) = match self.find(key) {
            Ok(i) => {
                let old = self.get(key).expect("found");
                admits(old, meta, value)?;
                (self.entries[i].len, true)
            }
            Err(_) => (0, false),
        };
        let room_items = replacing || self.entries.len() < N;
        let room_bytes = self.arena.len() - freed + value.len() <= BYTES;
        if !room_items || !room_bytes {
            return Err(StoreError::Full);
        }
        if let Ok(i) = self.find(key) {
            self.remove_at(i);
        }
        let off = self.arena.len();
        // Room was checked above for both the entry and the bytes.
        let fits = self.arena.extend_from_slice(value).is_ok();
        debug_assert!(fits, "arena room checked");
        let i = self.find(key).unwrap_err();
        let e = Entry {
            key,
            meta,
            off,
            len: value.len(),
        };
        let fits = self.entries.insert(i, e).is_ok();
        debug_assert!(fits, "entry room checked");
        Ok(())
    }

    fn remove(&mut self, key: Id) -> bool {
        match self.find(key) {
            Ok(i) => {
                self.remove_at(i);
                true
            }
            Err(_) => false,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn first_from(&self, from: Id) -> Option<(Id, Meta)> {
        let i = self.find(from).unwrap_or_else(|i| i);
        self.entries.get(i).map(|e| (e.key, e.meta))
    }
}

#[cfg(feature = "alloc")]
pub use map::MapStore;

#[cfg(feature = "alloc")]
mod map {
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    use super::{Item, Meta, Store, StoreError, admits};
    use crate::id::Id;

    /// A growable store on the heap (with the `alloc` feature), with
    /// optional limits on values and bytes.
    #[derive(Clone, Debug)]
    pub struct MapStore {
        map: BTreeMap<Id, (Meta, Vec<u8>)>,
        bytes: usize,
        max_items: usize,
        max_bytes: usize,
    }

    impl Default for MapStore {
        fn default() -> Self {
            MapStore::with_limits(usize::MAX, usize::MAX)
        }
    }

    impl MapStore {
        /// A store without limits.
        pub fn new() -> Self {
            Self::default()
        }

        /// A store of at most `max_items` values and `max_bytes` bytes.
        pub fn with_limits(max_items: usize, max_bytes: usize) -> Self {
            MapStore {
                map: BTreeMap::new(),
                bytes: 0,
                max_items,
                max_bytes,
            }
        }

        /// Bytes of values held.
        pub fn bytes_used(&self) -> usize {
            self.bytes
        }
    }

    impl Store for MapStore {
        fn get(&self, key: Id) -> Option<Item<'_>> {
            self.map.get(&key).map(|(meta, v)| Item {
                meta: *meta,
                value: v,
            })
        }

        fn insert(&mut self, key: Id, meta: Meta, value: &[u8]) -> Result<(), StoreError> {
            let freed = match self.get(key) {
                Some(old) => {
                    admits(old, meta, value)?;
                    Some(old.value.len())
                }
                None => None,
            };
            let items = self.map.len() + usize::from(freed.is_none());
            let bytes = self.bytes - freed.unwrap_or(0) + value.len();
            if items > self.max_items || bytes > self.max_bytes {
                return Err(StoreError::Full);
            }
            self.bytes = bytes;
            self.map.insert(key, (meta, value.to_vec()));
            Ok(())
        }

        fn remove(&mut self, key: Id) -> bool {
            match self.map.remove(&key) {
                Some((_, v)) => {
                    self.bytes -= v.len();
                    true
                }
                None => false,
            }
        }

        fn len(&self) -> usize {
            self.map.len()
        }

        fn first_from(&self, from: Id) -> Option<(Id, Meta)> {
            self.map.range(from..).next().map(|(k, (m, _))| (*k, *m))
        }
    }
}
