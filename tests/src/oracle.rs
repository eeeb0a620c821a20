//! Ground truth from the global view: what a node's routing state *should*
//! be, computed by brute force over every live id. Tests and (later) the
//! simulator judge nodes against these.

use std::cmp::Ordering;

use pastry_core::{Id, Peer};

/// The live node numerically closest to `key` (the key's true root), by the
/// tie rule of [`Id::cmp_closeness`]. Brute force: O(N).
pub fn root_of(key: Id, ids: &[Id]) -> Option<Id> {
    ids.iter().copied().min_by(|a, b| key.cmp_closeness(*a, *b))
}

/// The `r` live nodes numerically closest to `key`, closest first.
/// Brute force by selection: O(N + r log r).
pub fn closest_n(key: Id, ids: &[Id], r: usize) -> Vec<Id> {
    let cmp = |a: &Id, b: &Id| key.cmp_closeness(*a, *b);
    let mut v = ids.to_vec();
    if r == 0 {
        return Vec::new();
    }
    if r < v.len() {
        v.select_nth_unstable_by(r - 1, cmp);
        v.truncate(r);
    }
    v.sort_by(cmp);
    v
}

/// A ring: the live ids sorted numerically, for neighbour queries.
#[derive(Clone, Debug)]
pub struct Ring {
    sorted: Vec<Id>,
}

impl Ring {
    /// The ring of these ids (duplicates removed).
    pub fn new(ids: impl IntoIterator<Item = Id>) -> Ring {
        let mut sorted: Vec<Id> = ids.into_iter().collect();
        sorted.sort_unstable();
        sorted.dedup();
        Ring { sorted }
    }

    /// The ids in numeric order.
    pub fn ids(&self) -> &[Id] {
        &self.sorted
    }

    /// The true leaf set of `own` (which must be on the ring): up to `half`
    /// nearest counter-clockwise and clockwise, nearest first. In a ring of
    /// at most `half` other nodes both sides hold every other node.
    pub fn leaf_set(&self, own: Id, half: usize) -> (Vec<Id>, Vec<Id>) {
        let n = self.sorted.len();
        let Ok(i) = self.sorted.binary_search(&own) else {
            return (Vec::new(), Vec::new());
        };
        let take = half.min(n - 1);
        let left = (1..=take).map(|k| self.sorted[(i + n - k) % n]).collect();
        let right = (1..=take).map(|k| self.sorted[(i + k) % n]).collect();
        (left, right)
    }

    /// The key's true root.
    pub fn root_of(&self, key: Id) -> Option<Id> {
        // The root is the successor or the predecessor of the key.
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let i = self.sorted.partition_point(|id| *id < key);
        let succ = self.sorted[i % n];
        let pred = self.sorted[(i + n - 1) % n];
        Some(match key.cmp_closeness(succ, pred) {
            Ordering::Greater => pred,
            _ => succ,
        })
    }
}

/// The ids of some peers.
pub fn ids(peers: &[Peer]) -> Vec<Id> {
    peers.iter().map(|p| p.id).collect()
}
