//! The simulator's global view of the ring: every live, active node by id,
//! ordered, so the true root of a key and the true leaf set of a node cost
//! O(log N) rather than a scan.

use std::collections::BTreeMap;
use std::ops::Bound;

use pastry_core::Id;

/// Live active nodes, by id, with their simulator index.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    by_id: BTreeMap<Id, u32>,
}

impl Truth {
    /// Adds a node that became active.
    pub fn insert(&mut self, id: Id, index: u32) {
        self.by_id.insert(id, index);
    }

    /// Removes a node that crashed or left.
    pub fn remove(&mut self, id: Id) {
        self.by_id.remove(&id);
    }

    /// Number of live active nodes.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no node is live and active.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The simulator index of live active node `id`.
    pub fn index_of(&self, id: Id) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    /// Whether `id` is live and active.
    pub fn contains(&self, id: Id) -> bool {
        self.by_id.contains_key(&id)
    }

    /// Whether some live active node could fill slot (`row`, `col`) of
    /// `own`'s routing table: it shares `row` digits with `own` and has
    /// digit `col` next.
    pub fn fills(&self, own: Id, row: usize, col: u8) -> bool {
        let (lo, hi) = super::byzantine::slot_range(own, row, col);
        self.by_id.range(lo..=hi).next().is_some()
    }

    /// The first node clockwise from `id` (exclusive), wrapping.
    fn next(&self, id: Id) -> Option<(Id, u32)> {
        self.by_id
            .range((Bound::Excluded(id), Bound::Unbounded))
            .next()
            .or_else(|| self.by_id.iter().next())
            .map(|(k, v)| (*k, *v))
    }

    /// The first node counter-clockwise from `id` (exclusive), wrapping.
    fn prev(&self, id: Id) -> Option<(Id, u32)> {
        self.by_id
            .range(..id)
            .next_back()
            .or_else(|| self.by_id.iter().next_back())
            .map(|(k, v)| (*k, *v))
    }

    /// The key's true root: the live active node numerically closest to
    /// it, by [`Id::cmp_closeness`]. Its index.
    pub fn root_of(&self, key: Id) -> Option<u32> {
        if let Some(&i) = self.by_id.get(&key) {
            return Some(i);
        }
        let (a, ai) = self.next(key)?;
        let (b, bi) = self.prev(key)?;
        Some(match key.cmp_closeness(a, b) {
            std::cmp::Ordering::Greater => bi,
            _ => ai,
        })
    }

    /// The key's `r` closest live active nodes (by
    /// [`Id::cmp_closeness`]), closest first: their indices.
    pub fn closest(&self, key: Id, r: usize) -> Vec<u32> {
        let r = r.min(self.len());
        let mut out = Vec::with_capacity(r);
        let mut cw = self
            .by_id
            .range(key..)
            .chain(self.by_id.range(..key))
            .map(|(k, v)| (*k, *v));
        let mut ccw = self
            .by_id
            .range(..key)
            .rev()
            .chain(self.by_id.range(key..).rev())
            .map(|(k, v)| (*k, *v));
        let (mut a, mut b) = (cw.next(), ccw.next());
        while out.len() < r {
            let take_a = match (a, b) {
                (Some(x), Some(y)) => key.cmp_closeness(x.0, y.0).is_le(),
                (Some(_), None) => true,
                (None, _) => false,
            };
            let next = if take_a {
                std::mem::replace(&mut a, cw.next())
            } else {
                std::mem::replace(&mut b, ccw.next())
            };
            let Some((_, i)) = next else { break };
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }

    /// The true leaf set of `own` (left then right, nearest first), `half`
    /// per side, capped so no node appears twice on one side.
    pub fn leaf_set(&self, own: Id, half: usize) -> (Vec<Id>, Vec<Id>) {
        let others = self.len() - usize::from(self.contains(own));
        let half = half.min(others);
        let mut left = Vec::with_capacity(half);
        let mut right = Vec::with_capacity(half);
        let mut at = own;
        for _ in 0..half {
            let Some((id, _)) = self.prev(at) else { break };
            left.push(id);
            at = id;
        }
        at = own;
        for _ in 0..half {
            let Some((id, _)) = self.next(at) else { break };
            right.push(id);
            at = id;
        }
        (left, right)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle;
    use crate::sim::random_id;
    use pastry_core::rng::SmallRng;

    #[test]
    fn agrees_with_brute_force() {
        let mut rng = SmallRng::new(5);
        for n in [1usize, 2, 3, 9, 17, 200] {
            let ids: Vec<Id> = (0..n).map(|_| random_id(&mut rng)).collect();
            let mut t = Truth::default();
            for (i, id) in ids.iter().enumerate() {
                t.insert(*id, i as u32);
            }
            for _ in 0..500 {
                let key = if rng.below(4) == 0 {
                    ids[rng.below(n as u64) as usize]
                } else {
                    random_id(&mut rng)
                };
                let want = oracle::root_of(key, &ids).unwrap();
                let got = ids[t.root_of(key).unwrap() as usize];
                assert_eq!(got, want, "n {n}, key {key}");
            }
            // The r closest, against sorting every id by closeness.
            for r in [1, 5, 8] {
                let key = random_id(&mut rng);
                let mut sorted: Vec<usize> = (0..n).collect();
                sorted.sort_by(|&a, &b| key.cmp_closeness(ids[a], ids[b]));
                let want: Vec<u32> = sorted.iter().take(r).map(|&i| i as u32).collect();
                assert_eq!(t.closest(key, r), want, "n {n}, r {r}");
            }
            let ring = oracle::Ring::new(ids.iter().copied());
            for id in &ids {
                assert_eq!(t.leaf_set(*id, 8), ring.leaf_set(*id, 8), "n {n}");
            }
        }
    }
}
