//! Copies of values cached along lookup paths (PAST §4): bounded in
//! entries and bytes, least recently used out first, each kept at most a
//! time-to-live (a cache is not told of newer versions written elsewhere,
//! so the TTL bounds how stale it can be). A cached copy is never a
//! replica, and a cache never goes back to an older version than one it
//! has held.

use core::time::Duration;

use heapless::Vec;

use super::msg::{GET_TRIED_AT, ON_THE_WAY};
use super::store::{FixedStore, Item, Meta, Store, StoreError};
use crate::id::Id;
use crate::node::Forwarder;
use crate::node::{ForwardHop, Verdict};
use crate::routing::NextHop;
use crate::time::Instant;

/// A cache of at most `N` values and `BYTES` bytes.
#[derive(Clone, Debug)]
pub struct Cache<const N: usize, const BYTES: usize> {
    values: FixedStore<N, BYTES>,
    /// (key, last use, expiry) for every cached value.
    uses: Vec<(Id, u64, Instant), N>,
    clock: u64,
}

impl<const N: usize, const BYTES: usize> Default for Cache<N, BYTES> {
    fn default() -> Self {
        Cache {
            values: FixedStore::new(),
            uses: Vec::new(),
            clock: 0,
        }
    }
}

impl<const N: usize, const BYTES: usize> Cache<N, BYTES> {
    /// Values cached.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The cached copy of `key`, if it has not expired (a use: it moves
    /// to the back of the eviction order).
    pub fn get(&mut self, key: Id, now: Instant) -> Option<Item<'_>> {
        let i = self.uses.iter().position(|u| u.0 == key)?;
        if self.uses[i].2 <= now {
            self.uses.swap_remove(i);
            self.values.remove(key);
            return None;
        }
        self.clock += 1;
        self.uses[i].1 = self.clock;
        self.values.get(key)
    }

    /// Caches `value` for `ttl`, evicting the least recently used copies
    /// to make room. An older version than the one cached is ignored; a
    /// value that cannot fit even in an empty cache is not cached.
    pub fn insert(&mut self, key: Id, meta: Meta, value: &[u8], now: Instant, ttl: Duration) {
        if ttl.is_zero() || value.len() > BYTES || N == 0 {
            return;
        }
        loop {
            match self.values.insert(key, meta, value) {
                Ok(()) => break,
                Err(StoreError::Stale { .. } | StoreError::Protected) => return,
                Err(StoreError::Full) => {
                    let Some(lru) = self
                        .uses
                        .iter()
                        .enumerate()
                        .filter(|(_, u)| u.0 != key)
                        .min_by_key(|(_, u)| u.1)
                        .map(|(i, _)| i)
                    else {
                        return;
                    };
                    let (old, ..) = self.uses.swap_remove(lru);
                    self.values.remove(old);
                }
            }
        }
        self.clock += 1;
        let expires = now + ttl;
        match self.uses.iter_mut().find(|u| u.0 == key) {
            Some(u) => *u = (key, self.clock, expires),
            // Room: one use per stored value, and the store took it.
            None => {
                let _ = self.uses.push((key, self.clock, expires));
            }
        }
    }
}

/// The node's `forward` upcall for the DHT's lookups: a get on its way
/// is handed to this node's DHT at every hop (but its first), so a replica
/// or a cached copy on the path answers it; the DHT sends it on otherwise.
/// Build the node with it (`Node::with_forwarder`) to use caching; a user
/// forwarder can call it first for [`super::LOOKUP_APP`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookups;

impl Forwarder for Lookups {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        let on_the_way = hop.hops > 0 && hop.next_hop != NextHop::Local;
        let is_get = hop.payload.first() == Some(&super::msg::GET_KIND);
        if hop.app != super::LOOKUP_APP || !on_the_way || !is_get {
            return Verdict::Continue;
        }
        match hop.payload.get_mut(GET_TRIED_AT) {
            Some(tried) => {
                *tried |= ON_THE_WAY;
                Verdict::Deliver
            }
            None => Verdict::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(version: u64) -> Meta {
        Meta {
            version,
            ..Meta::default()
        }
    }

    #[test]
    fn least_recently_used_goes_first_and_versions_never_go_back() {
        let mut c = Cache::<2, 100>::default();
        let t = Instant::from_secs(1);
        let ttl = Duration::from_secs(60);
        let (a, b, d) = (Id::sha1(b"a"), Id::sha1(b"b"), Id::sha1(b"d"));
        c.insert(a, meta(1), b"aa", t, ttl);
        c.insert(b, meta(1), b"bb", t, ttl);
        assert!(c.get(a, t).is_some()); // a is now more recent than b
        c.insert(d, meta(1), b"dd", t, ttl);
        assert!(c.get(b, t).is_none(), "b was least recently used");
        assert_eq!(c.get(a, t).map(|i| i.value), Some(&b"aa"[..]));
        c.insert(a, meta(3), b"a3", t, ttl);
        c.insert(a, meta(2), b"a2", t, ttl);
        assert_eq!(c.get(a, t).map(|i| i.meta.version), Some(3));
        // Expired copies are not served.
        assert!(c.get(d, t + ttl).is_none());
        assert_eq!(c.len(), 1);
        // Too big for the whole cache: not cached, nothing evicted.
        c.insert(b, meta(1), &[0u8; 101], t, ttl);
        assert_eq!(c.len(), 1);
    }
}
