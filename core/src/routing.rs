//! A node's routing state — leaf set plus routing table — and the decisions
//! made from it: the next hop for a key (Pastry'01 §2.2) and the local calls
//! of the common KBR API (Dabek et al., IPTPS'03 §3): `local_lookup`,
//! `neighbor_set`, `replica_set` and `range`.

use core::cmp::Ordering;

use heapless::Vec;

use crate::config::{Config, ConfigError};
use crate::id::Id;
use crate::leaf_set::{Insertion, LeafSet, NODE_SET_CAPACITY, NodeSet};
use crate::peer::Peer;
use crate::routing_table::{Considered, RoutingTable, Rtt};

/// Where a message for a key goes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    /// The local node is the closest it knows of: deliver here.
    Local,
    /// Send it to this node.
    Forward(Peer),
}

/// A clockwise arc of keys `[start, end)`; `start == end` is the whole ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRange {
    /// First key in the range.
    pub start: Id,
    /// First key after the range.
    pub end: Id,
}

impl KeyRange {
    /// Whether `key` is in the range.
    pub fn contains(&self, key: Id) -> bool {
        self.start == self.end || self.start.cw_distance(key) < self.start.cw_distance(self.end)
    }
}

/// Leaf set and routing table of the local node `own`.
#[derive(Clone, Debug)]
pub struct RoutingState<const HALF: usize = 8, const ROWS: usize = 8> {
    own: Peer,
    leaf_set: LeafSet<HALF>,
    table: RoutingTable<ROWS>,
}

impl<const HALF: usize, const ROWS: usize> RoutingState<HALF, ROWS> {
    /// Empty state for `own`, after checking `config` against the capacities.
    pub fn new(own: Peer, config: &Config) -> Result<RoutingState<HALF, ROWS>, ConfigError> {
        config.validate(HALF)?;
        Ok(RoutingState {
            own,
            leaf_set: LeafSet::with_half(own.id, config.leaf_set_size / 2),
            table: RoutingTable::new(own.id),
        })
    }

    /// The local node.
    pub fn own(&self) -> Peer {
        self.own
    }

    /// The leaf set.
    pub fn leaf_set(&self) -> &LeafSet<HALF> {
        &self.leaf_set
    }

    /// The leaf set, to change.
    pub fn leaf_set_mut(&mut self) -> &mut LeafSet<HALF> {
        &mut self.leaf_set
    }

    /// The member with `id`, from the leaf set or else the routing table.
    pub fn member(&self, id: Id) -> Option<Peer> {
        self.leaf_set
            .get(id)
            .copied()
            .or_else(|| self.table.get(id).map(|e| e.peer))
    }

    /// Whether `id` is in the leaf set or the routing table.
    pub fn holds(&self, id: Id) -> bool {
        self.leaf_set.contains(id) || self.table.contains(id)
    }

    /// The routing table.
    pub fn table(&self) -> &RoutingTable<ROWS> {
        &self.table
    }

    /// The routing table, to change.
    pub fn table_mut(&mut self) -> &mut RoutingTable<ROWS> {
        &mut self.table
    }

    /// Offers a node to both structures.
    pub fn learn(&mut self, peer: Peer, rtt: Rtt) -> (Insertion, Considered) {
        (self.leaf_set.insert(peer), self.table.consider(peer, rtt))
    }

    /// Drops a node from both structures; whether it was known.
    pub fn forget(&mut self, id: Id) -> bool {
        let in_leaf = self.leaf_set.remove(id);
        self.table.remove(id).is_some() || in_leaf
    }

    /// Every known node (leaf set, then table entries and spares; a node
    /// in both structures appears twice).
    pub fn known(&self) -> impl Iterator<Item = &Peer> + '_ {
        let table = self.table.entries().chain(self.table.spares());
        self.leaf_set
            .members()
            .chain(table.map(|(_, _, e)| &e.peer))
    }

    /// The next hop for `key`, skipping nodes `exclude` rejects (suspects),
    /// by the rule of Pastry'01 §2.2:
    /// 1. if the key is within the leaf set's range, the member (or the
    ///    local node) numerically closest to it;
    /// 2. else the table entry sharing one more digit with the key (or
    ///    that slot's spare);
    /// 3. else (the rare case) any known node sharing as long a prefix with
    ///    the key as the local node does and numerically closer; here the
    ///    closest such node.
    ///
    /// Every hop makes progress: a longer shared prefix with the key, or
    /// numerically closer to it. With correct leaf sets the first leaf-set
    /// hop reaches the key's root, so a route takes at most one hop per
    /// digit plus one.
    pub fn next_hop(&self, key: Id, mut exclude: impl FnMut(&Peer) -> bool) -> NextHop {
        if self.leaf_set.covers(key) {
            return match self.leaf_set.closest(key, &mut exclude) {
                Some(p) => NextHop::Forward(*p),
                None => NextHop::Local,
            };
        }
        if let Some(e) = self.table.next_hop_entry(key) {
            if !exclude(&e.peer) {
                return NextHop::Forward(e.peer);
            }
            // The entry is suspected or was tried: its slot's spare still
            // shares one more digit with the key.
            if let Some(s) = self.table.next_hop_spare(key).filter(|s| !exclude(&s.peer)) {
                return NextHop::Forward(s.peer);
            }
        }
        let prefix = key.shared_prefix_len(self.own.id);
        let mut best: Option<&Peer> = None;
        let mut best_closeness = key.closeness(self.own.id);
        for p in self.known() {
            if key.shared_prefix_len(p.id) < prefix {
                continue;
            }
            let c = key.closeness(p.id);
            if c < best_closeness && !exclude(p) {
                best = Some(p);
                best_closeness = c;
            }
        }
        best.map_or(NextHop::Local, |p| NextHop::Forward(*p))
    }

    /// KBR `local_lookup(key, n)`: up to `n` nodes that could take the next
    /// hop towards `key`, best first. The first is [`Self::next_hop`]'s choice
    /// (the local node itself if it is the closest known); the others make
    /// progress towards the key, ordered by shared prefix then closeness.
    pub fn local_lookup(&self, key: Id, n: usize) -> NodeSet {
        let n = n.min(NODE_SET_CAPACITY);
        let mut out = NodeSet::new();
        if n == 0 {
            return out;
        }
        let first = match self.next_hop(key, |_| false) {
            NextHop::Local => self.own,
            NextHop::Forward(p) => p,
        };
        let _ = out.push(first);
        let own_prefix = key.shared_prefix_len(self.own.id);
        // (prefix, id) ranks progress: longer prefix, then closer.
        let better = |a: &Peer, b: &Peer| {
            let (pa, pb) = (key.shared_prefix_len(a.id), key.shared_prefix_len(b.id));
            pb.cmp(&pa).then_with(|| key.cmp_closeness(a.id, b.id))
        };
        for p in self.known() {
            let progress = key.shared_prefix_len(p.id) > own_prefix
                || (key.shared_prefix_len(p.id) == own_prefix
                    && key.cmp_closeness(p.id, self.own.id) == Ordering::Less);
            if !progress || out.iter().any(|q| q.id == p.id) {
                continue;
            }
            insert_ranked(&mut out, 1, n, *p, &better);
        }
        out
    }

    /// KBR `neighbor_set(n)`: up to `n` leaf-set members, nearest first.
    pub fn neighbor_set(&self, n: usize) -> NodeSet {
        let own = self.own.id;
        let mut out = NodeSet::new();
        let n = n.min(NODE_SET_CAPACITY);
        let near = |a: &Peer, b: &Peer| own.ring_distance(a.id).cmp(&own.ring_distance(b.id));
        for p in self.leaf_set.members() {
            insert_ranked(&mut out, 0, n, *p, &near);
        }
        out
    }

    /// KBR `replica_set(key, r)`: the `r` nodes numerically closest to `key`
    /// among the leaf set and the local node, closest first. Meaningful
    /// for keys within the leaf set's range and `r <= L/2 + 1`.
    pub fn replica_set(&self, key: Id, r: usize) -> NodeSet {
        let mut out = NodeSet::new();
        let r = r.min(NODE_SET_CAPACITY);
        let closer = |a: &Peer, b: &Peer| key.cmp_closeness(a.id, b.id);
        for p in core::iter::once(&self.own).chain(self.leaf_set.members()) {
            insert_ranked(&mut out, 0, r, *p, &closer);
        }
        out
    }

    /// KBR `range(node, r)`: the keys for which `node` is among the `r`
    /// numerically closest nodes, as far as the leaf set can tell; `None` if
    /// `node` is unknown, `r` is 0, or its `r`-th neighbours on either side
    /// lie beyond the leaf set.
    pub fn range(&self, node: Id, r: usize) -> Option<KeyRange> {
        if r == 0 {
            return None;
        }
        // The known ids in ring order.
        let mut ring: Vec<Id, NODE_SET_CAPACITY> = Vec::new();
        let whole = self.leaf_set.knows_whole_ring();
        if whole {
            let _ = ring.push(self.own.id);
            for p in self.leaf_set.members() {
                let _ = ring.push(p.id);
            }
            let origin = self.own.id;
            ring.sort_unstable_by_key(|id| origin.cw_distance(*id));
        } else {
            // Disjoint sides, each nearest first: already in ring order
            // (the DHT asks this for every neighbour every round).
            let left = self.leaf_set.left().iter().rev();
            let right = self.leaf_set.right().iter();
            for id in left
                .map(|p| p.id)
                .chain([self.own.id])
                .chain(right.map(|p| p.id))
            {
                let _ = ring.push(id);
            }
        }
        let n = ring.len();
        let i = ring.iter().position(|id| *id == node)?;
        if whole {
            if r >= n {
                return Some(KeyRange {
                    start: node,
                    end: node,
                });
            }
            let before = ring[(i + n - r) % n];
            let after = ring[(i + r) % n];
            return Some(KeyRange {
                start: Id::boundary(before, node),
                end: Id::boundary(node, after),
            });
        }
        let before = ring[i.checked_sub(r)?];
        let after = *ring.get(i + r)?;
        Some(KeyRange {
            start: Id::boundary(before, node),
            end: Id::boundary(node, after),
        })
    }
}

/// Inserts `p` into `out` (ranked by `cmp`, from index `from` on) keeping at
/// most `cap` entries.
fn insert_ranked(
    out: &mut NodeSet,
    from: usize,
    cap: usize,
    p: Peer,
    cmp: &impl Fn(&Peer, &Peer) -> Ordering,
) {
    let pos = from + out[from..].partition_point(|q| cmp(q, &p) != Ordering::Greater);
    if pos >= cap {
        return;
    }
    if out.len() >= cap {
        out.pop();
    }
    let _ = out.insert(pos, p);
}
