//! The constrained routing table (OSDI'02 §4). Beside the table proximity
//! fills, whose entries an attacker can bias by offering only colluders
//! (each node keeps the nearest it hears of), a node keeps one whose slot
//! for row `r` and digit `d` holds the live node numerically closest to a
//! point fixed by the node's own id: its id with digit `r` set to `d`.
//! Ids are certified and random, so no node can be closer to that point
//! than the true closest; an attacker can only withhold, and the secure
//! lookups that fill the table find the true closest with high
//! probability. Its share of faulty entries is then the share of faulty
//! nodes. Secure queries are routed through these tables only.

use crate::id::{BASE, Id};
use crate::peer::Peer;

/// A constrained table of `ROWS` rows.
#[derive(Clone, Debug)]
pub struct ConstrainedTable<const ROWS: usize> {
    own: Id,
    rows: [[Option<Peer>; BASE]; ROWS],
}

impl<const ROWS: usize> ConstrainedTable<ROWS> {
    /// An empty table for the node `own`.
    pub fn new(own: Id) -> Self {
        ConstrainedTable {
            own,
            rows: [[None; BASE]; ROWS],
        }
    }

    /// The point slot (`row`, `col`) is for: the node's id with digit
    /// `row` set to `col`.
    pub fn point(&self, row: usize, col: u8) -> Id {
        self.own.with_digit(row, col)
    }

    /// The slot `id` could fill: its shared prefix with ours and its
    /// digit after it; `None` for our own id or past the last row.
    pub fn slot(&self, id: Id) -> Option<(usize, u8)> {
        let row = self.own.shared_prefix_len(id);
        (row < ROWS).then(|| (row, id.digit(row)))
    }

    /// The entry of slot (`row`, `col`).
    pub fn at(&self, row: usize, col: u8) -> Option<Peer> {
        self.rows.get(row)?.get(usize::from(col)).copied().flatten()
    }

    /// Offers `peer`, live and verified, for its slot: it enters if the
    /// slot is empty or it is closer to the slot's point than the entry
    /// (the same node refreshes its address). Whether it entered.
    pub fn consider(&mut self, peer: Peer) -> bool {
        let Some((row, col)) = self.slot(peer.id) else {
            return false;
        };
        let point = self.point(row, col);
        let slot = &mut self.rows[row][usize::from(col)];
        let better = match slot {
            None => true,
            Some(e) if e.id == peer.id => e.addr != peer.addr,
            Some(e) => point.cmp_closeness(peer.id, e.id).is_lt(),
        };
        if better {
            *slot = Some(peer);
        }
        better
    }

    /// Forgets `id` (it failed); returns its slot if it held one.
    pub fn remove(&mut self, id: Id) -> Option<(usize, u8)> {
        let (row, col) = self.slot(id)?;
        let slot = &mut self.rows[row][usize::from(col)];
        if slot.is_some_and(|e| e.id == id) {
            *slot = None;
            return Some((row, col));
        }
        None
    }

    /// Whether `id` is an entry.
    pub fn slot_holds(&self, id: Id) -> bool {
        self.slot(id)
            .and_then(|(row, col)| self.at(row, col))
            .is_some_and(|e| e.id == id)
    }

    /// Every entry.
    pub fn entries(&self) -> impl Iterator<Item = &Peer> + '_ {
        self.rows.iter().flatten().flatten()
    }

    /// Filled slots.
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// Whether no slot is filled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next hop towards `key` by prefix: the entry sharing one more
    /// digit with it, unless `exclude`d; else (Pastry's rare case) the
    /// entry numerically closest to `key` that shares as many digits as
    /// we do and is closer than we are. `None`: no entry is closer.
    pub fn next_hop(&self, key: Id, exclude: impl Fn(&Peer) -> bool) -> Option<Peer> {
        let p = self.own.shared_prefix_len(key);
        if p < ROWS {
            if let Some(e) = self.at(p, key.digit(p)).filter(|e| !exclude(e)) {
                return Some(e);
            }
        }
        self.entries()
            .filter(|e| !exclude(e) && e.id.shared_prefix_len(key) >= p.min(ROWS))
            .filter(|e| key.cmp_closeness(e.id, self.own).is_lt())
            .min_by(|a, b| key.cmp_closeness(a.id, b.id))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SmallRng;
    use core::net::SocketAddr;
    use std::vec::Vec;

    fn random_id(rng: &mut SmallRng) -> Id {
        let mut b = [0u8; 20];
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&rng.next_u64().to_be_bytes()[..c.len()]);
        }
        Id::from_bytes(b)
    }

    fn peer(id: Id) -> Peer {
        Peer::new(id, SocketAddr::from(([10, 0, 0, 1], 1)))
    }

    #[test]
    fn each_slot_ends_with_the_node_closest_to_its_point_whatever_the_order() {
        let mut rng = SmallRng::new(41);
        let own = random_id(&mut rng);
        // Nodes sharing 0, 1 or 2 digits with us, offered in random order.
        let ids: Vec<Id> = (0..3_000)
            .map(|k| {
                let mut id = random_id(&mut rng);
                for d in 0..(k % 3) {
                    id = id.with_digit(d, own.digit(d));
                }
                id
            })
            .collect();
        let mut t = ConstrainedTable::<4>::new(own);
        for id in &ids {
            t.consider(peer(*id));
        }
        for row in 0..4 {
            for col in 0..16u8 {
                let point = t.point(row, col);
                // The oracle: every node that fits the slot, closest first.
                let want = ids
                    .iter()
                    .filter(|id| t.slot(**id) == Some((row, col)))
                    .min_by(|a, b| point.cmp_closeness(**a, **b))
                    .copied();
                assert_eq!(t.at(row, col).map(|p| p.id), want, "row {row} col {col}");
            }
        }
        // A later, farther node never displaces the entry.
        let e = t.at(0, own.digit(0) ^ 1).expect("row 0 is full");
        let farther = ids
            .iter()
            .find(|id| t.slot(**id) == Some((0, own.digit(0) ^ 1)) && **id != e.id)
            .copied()
            .expect("another fits");
        assert!(!t.consider(peer(farther)));
        assert_eq!(t.remove(e.id), Some((0, own.digit(0) ^ 1)));
        assert_eq!(t.at(0, own.digit(0) ^ 1), None);
    }

    #[test]
    fn the_next_hop_shares_a_longer_prefix_or_is_numerically_closer() {
        let mut rng = SmallRng::new(42);
        let own = random_id(&mut rng);
        let mut t = ConstrainedTable::<8>::new(own);
        for _ in 0..500 {
            t.consider(peer(random_id(&mut rng)));
        }
        for _ in 0..500 {
            let key = random_id(&mut rng);
            let p = own.shared_prefix_len(key);
            match t.next_hop(key, |_| false) {
                Some(n) => assert!(
                    n.id.shared_prefix_len(key) > p || key.cmp_closeness(n.id, own).is_lt(),
                    "no progress towards {key}"
                ),
                None => assert!(
                    t.entries().all(|e| e.id.shared_prefix_len(key) <= p
                        && !key.cmp_closeness(e.id, own).is_lt()),
                    "a closer entry was missed for {key}"
                ),
            }
        }
    }
}
