//! The leaf set (Pastry'01 §2.1): the L/2 numerically closest known nodes on
//! each side of the local id. It decides which node is the root of a key and
//! is where replicas live.
//!
//! Each side is kept sorted by distance from the local id, nearest first.
//! In a ring of at most L/2 other nodes every node is on both sides; the
//! sides never hold duplicates or the local id.

use heapless::Vec;

use crate::id::{Distance, Id};
use crate::peer::Peer;

/// Largest per-side capacity (so a leaf set plus the local node fits a
/// [`NodeSet`]).
pub const MAX_LEAF_HALF: usize = 16;

/// Capacity of a [`NodeSet`]: a full leaf set of the largest size plus the
/// local node.
pub const NODE_SET_CAPACITY: usize = 2 * MAX_LEAF_HALF + 1;

/// A bounded list of nodes, the answer of the KBR calls
/// (`neighbor_set`, `replica_set`, `local_lookup`).
pub type NodeSet = Vec<Peer, NODE_SET_CAPACITY>;

/// The leaf set of a node with id `own`. `HALF` is the per-side capacity
/// (default 8, so L = 16); the configured L may be smaller.
#[derive(Clone, Debug)]
pub struct LeafSet<const HALF: usize = 8> {
    own: Id,
    half: usize,
    /// Counter-clockwise neighbours, nearest first.
    left: Vec<Peer, HALF>,
    /// Clockwise neighbours, nearest first.
    right: Vec<Peer, HALF>,
}

/// What [`LeafSet::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Insertion {
    /// The peer was not a member before and is now.
    pub added: bool,
    /// The peer was a member; its address was refreshed.
    pub refreshed: bool,
    /// Members pushed out of the leaf set entirely (off both sides).
    pub evicted: [Option<Peer>; 2],
}

impl Insertion {
    /// The evicted members.
    pub fn evicted(&self) -> impl Iterator<Item = Peer> + '_ {
        self.evicted.iter().flatten().copied()
    }
}

enum SideOutcome {
    Present,
    Outside,
    Added(Option<Peer>),
}

impl<const HALF: usize> LeafSet<HALF> {
    /// An empty leaf set of `HALF` members per side.
    pub fn new(own: Id) -> LeafSet<HALF> {
        LeafSet::with_half(own, HALF)
    }

    /// An empty leaf set holding `half` members per side (`L = 2 * half`).
    ///
    /// # Panics
    /// If `half` is 0 or above `HALF`; [`crate::Config::validate`] checks
    /// this for configured sizes.
    pub fn with_half(own: Id, half: usize) -> LeafSet<HALF> {
        const {
            assert!(
                HALF <= MAX_LEAF_HALF,
                "leaf set capacity above MAX_LEAF_HALF"
            )
        };
        assert!(
            half >= 1 && half <= HALF,
            "leaf set half size {half} not in 1..={HALF}"
        );
        LeafSet {
            own,
            half,
            left: Vec::new(),
            right: Vec::new(),
        }
    }

    /// The local id.
    pub fn own_id(&self) -> Id {
        self.own
    }

    /// Members kept per side (L/2).
    pub fn half(&self) -> usize {
        self.half
    }

    /// Counter-clockwise members (smaller ids), nearest first.
    pub fn left(&self) -> &[Peer] {
        &self.left
    }

    /// Clockwise members (larger ids), nearest first.
    pub fn right(&self) -> &[Peer] {
        &self.right
    }

    /// Whether both sides hold L/2 members.
    pub fn is_full(&self) -> bool {
        self.left.len() == self.half && self.right.len() == self.half
    }

    /// Whether the members are every node of the ring: a side is not full,
    /// or the sides share a member.
    pub fn knows_whole_ring(&self) -> bool {
        !self.is_full() || self.left.iter().any(|p| self.in_right(p.id))
    }

    /// Distinct members, clockwise side first.
    pub fn members(&self) -> impl Iterator<Item = &Peer> + '_ {
        self.right
            .iter()
            .chain(self.left.iter().filter(|p| !self.in_right(p.id)))
    }

    /// Number of distinct members.
    pub fn len(&self) -> usize {
        self.members().count()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.left.is_empty() && self.right.is_empty()
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: Id) -> bool {
        self.get(id).is_some()
    }

    /// The member with this id.
    pub fn get(&self, id: Id) -> Option<&Peer> {
        self.left
            .iter()
            .chain(self.right.iter())
            .find(|p| p.id == id)
    }

    fn in_right(&self, id: Id) -> bool {
        self.right.iter().any(|p| p.id == id)
    }

    /// Adds `peer` where it is among the L/2 nearest on a side, pushing out
    /// the farthest member there. A known id gets its address refreshed.
    /// The local id is never added.
    pub fn insert(&mut self, peer: Peer) -> Insertion {
        let mut out = Insertion::default();
        if peer.id == self.own {
            return out;
        }
        let own = self.own;
        let l = insert_side(&mut self.left, self.half, peer, |id| own.ccw_distance(id));
        let r = insert_side(&mut self.right, self.half, peer, |id| own.cw_distance(id));
        let was_member = matches!(l, SideOutcome::Present) || matches!(r, SideOutcome::Present);
        out.refreshed = was_member;
        out.added = !was_member
            && (matches!(l, SideOutcome::Added(_)) || matches!(r, SideOutcome::Added(_)));
        let mut slot = 0;
        for evicted in [l, r].into_iter().filter_map(|o| match o {
            SideOutcome::Added(e) => e,
            _ => None,
        }) {
            if !self.contains(evicted.id) {
                out.evicted[slot] = Some(evicted);
                slot += 1;
            }
        }
        out
    }

    /// Whether `insert` would add `id` to a side: it is not on that side,
    /// and it is among the L/2 nearest known there. (In a small ring a
    /// member of one side may belong on the other too.)
    pub fn admits(&self, id: Id) -> bool {
        if id == self.own {
            return false;
        }
        let own = self.own;
        let fits = |side: &[Peer], d: Distance, dist: fn(Id, Id) -> Distance| {
            side.iter().all(|p| p.id != id)
                && (side.len() < self.half
                    || side.last().is_some_and(|last| d < dist(own, last.id)))
        };
        fits(&self.left, own.ccw_distance(id), Id::ccw_distance)
            || fits(&self.right, own.cw_distance(id), Id::cw_distance)
    }

    /// Removes `id` from both sides; whether it was a member.
    ///
    /// When the sides shared a member, the members are the whole ring, so
    /// each side is refilled from the other: its L/2 nearest are among
    /// them. (Otherwise a side left short waits for repair, Pastry'01
    /// §2.4, as no member can be known to belong there.)
    pub fn remove(&mut self, id: Id) -> bool {
        let whole_ring = self.left.iter().any(|p| self.in_right(p.id));
        let mut found = false;
        for side in [&mut self.left, &mut self.right] {
            if let Some(i) = side.iter().position(|p| p.id == id) {
                side.remove(i);
                found = true;
            }
        }
        if found && whole_ring {
            let (own, half) = (self.own, self.half);
            for p in self.right.clone() {
                insert_side(&mut self.left, half, p, |id| own.ccw_distance(id));
            }
            for p in self.left.clone() {
                insert_side(&mut self.right, half, p, |id| own.cw_distance(id));
            }
        }
        found
    }

    /// The farthest counter-clockwise member (asked for its leaf set when
    /// that side needs repair, Pastry'01 §2.4).
    pub fn farthest_left(&self) -> Option<&Peer> {
        self.left.last()
    }

    /// The farthest clockwise member.
    pub fn farthest_right(&self) -> Option<&Peer> {
        self.right.last()
    }

    /// Whether `key` lies within the leaf set's range: between the farthest
    /// members on each side, or anywhere if the members are the whole ring.
    /// Only then does the leaf set decide the key's root.
    pub fn covers(&self, key: Id) -> bool {
        match (self.left.last(), self.right.last()) {
            (Some(l), Some(r)) if self.is_full() => {
                self.own.ccw_distance(key) <= self.own.ccw_distance(l.id)
                    || self.own.cw_distance(key) <= self.own.cw_distance(r.id)
            }
            _ => true,
        }
    }

    /// The member numerically closest to `key` among those `exclude` does not
    /// reject, or `None` if the local node is closer than all of them.
    pub fn closest(&self, key: Id, mut exclude: impl FnMut(&Peer) -> bool) -> Option<&Peer> {
        if let Some(found) = self.closest_by_position(key, &mut exclude) {
            return found;
        }
        let mut best: Option<&Peer> = None;
        let mut best_closeness = key.closeness(self.own);
        for p in self.left.iter().chain(self.right.iter()) {
            let c = key.closeness(p.id);
            if c < best_closeness && !exclude(p) {
                best = Some(p);
                best_closeness = c;
            }
        }
        best
    }

    /// [`LeafSet::closest`] for a key inside the range of a full leaf set
    /// spanning less than half the ring (every large ring): the sides are
    /// sorted by position, so a binary search finds where the key falls and
    /// the answer is the nearer of the members walking outwards from there
    /// (the node itself stops the inward walk). `None` when that does not
    /// apply: the caller scans every member.
    fn closest_by_position(
        &self,
        key: Id,
        exclude: &mut impl FnMut(&Peer) -> bool,
    ) -> Option<Option<&Peer>> {
        let (l, r) = (self.left.last()?, self.right.last()?);
        let own = self.own;
        let (span_l, span_r) = (own.ccw_distance(l.id), own.cw_distance(r.id));
        // Below half the ring together, the sides cannot overlap and the
        // distance to the key falls, then rises, along them.
        if !self.is_full()
            || span_l >= Distance::HALF_RING
            || span_r >= Distance::HALF_RING
            || span_l.wrapping_add(span_r) >= Distance::HALF_RING
        {
            return None;
        }
        type Way = fn(Id, Id) -> Distance;
        let (side, dist): (&[Peer], Way) = if own.cw_distance(key) <= span_r {
            (&self.right, Id::cw_distance)
        } else if own.ccw_distance(key) <= span_l {
            (&self.left, Id::ccw_distance)
        } else {
            return None;
        };
        let to_key = dist(own, key);
        // Members before `at` lie between the node and the key.
        let at = side.partition_point(|p| dist(own, p.id) < to_key);
        let (mut inward, mut outward) = (at, at);
        loop {
            let inner = inward.checked_sub(1).map(|i| &side[i]);
            let outer = side.get(outward);
            let inner_c = inner.map_or(key.closeness(own), |p| key.closeness(p.id));
            match outer {
                Some(p) if key.closeness(p.id) < inner_c => {
                    if !exclude(p) {
                        return Some(Some(p));
                    }
                    outward += 1;
                }
                _ => match inner {
                    // The node itself is nearer than every member left.
                    None => return Some(None),
                    Some(p) if !exclude(p) => return Some(Some(p)),
                    Some(_) => inward -= 1,
                },
            }
        }
    }
}

fn insert_side<const N: usize>(
    side: &mut Vec<Peer, N>,
    half: usize,
    peer: Peer,
    dist: impl Fn(Id) -> Distance,
) -> SideOutcome {
    let d = dist(peer.id);
    // Most peers a node hears from are farther than a full side's last
    // member: one comparison settles them.
    if side.len() >= half && side.last().is_some_and(|last| dist(last.id) < d) {
        return SideOutcome::Outside;
    }
    // Distances from one id are distinct for distinct ids: a strict order.
    match side.binary_search_by(|p| dist(p.id).cmp(&d)) {
        Ok(i) => {
            side[i].addr = peer.addr;
            SideOutcome::Present
        }
        Err(i) if i >= half => SideOutcome::Outside,
        Err(i) => {
            let evicted = if side.len() >= half { side.pop() } else { None };
            // Room was made above (len < half <= N), so this cannot fail.
            let inserted = side.insert(i, peer).is_ok();
            debug_assert!(inserted, "leaf set side over capacity");
            SideOutcome::Added(evicted)
        }
    }
}
