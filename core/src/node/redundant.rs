//! Redundant routing (OSDI'02 §5.3): a secure lookup's query sent again
//! through every diverse first hop the node has, aimed at the key, beside
//! it and (for a node that still trusts its bootstrap) through waypoints
//! spread over the ring, so that one correct route brings the true roots.

use heapless::Vec;

use super::Node;
use super::app::Forwarder;
use super::queries::MAX_ROUTES;
use super::secure::Purpose;
use crate::id::Id;
use crate::peer::Peer;

/// Slots a redundant phase leaves free for other traffic.
const POOL_RESERVE: usize = 4;

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// Sends lookup `i`'s query again through every diverse first hop.
    pub(super) fn go_redundant(&mut self, i: usize) {
        let op = &mut self.secure_ops[i];
        if op.redundant {
            return;
        }
        op.redundant = true;
        self.stats.secure.redundant += 1;
        let planned = self.first_hops().len() as u8;
        let op = &mut self.secure_ops[i];
        op.planned = planned;
        op.deadline = self.now + self.config.secure.timeout;
        self.send_redundant(i);
        if self.secure_ops[i].planned == 0 {
            self.finish_secure(i);
        }
    }

    /// Lookup `i`'s redundant routes answered or timed out. The roots
    /// they found are asked straight once (OSDI'02 §5.3's routes deliver
    /// to the roots, which answer): a correct node on the way that covers
    /// the key answers with part of its neighbourhood and sends the query
    /// on, and a faulty node nearer the key can swallow every route after
    /// it (#29, traced at 10,000 nodes). A correct root among those found
    /// then brings the rest. Then the lookup ends.
    pub(super) fn routes_ended(&mut self, i: usize) {
        let op = &self.secure_ops[i];
        // The node's own lookups (fills, checks) end as they are: asking
        // their roots again made every fill offer more leaf-set candidates
        // and trebled their traffic under attack.
        let callers = matches!(op.purpose, Purpose::Caller | Purpose::Route(_));
        if op.confirm_from.is_some() || !op.redundant || !callers {
            self.finish_secure(i);
            return;
        }
        let own = self.own().id;
        let roots: Vec<Peer, { super::queries::MAX_SECURE_ROOTS }> =
            op.roots().iter().filter(|p| p.id != own).copied().collect();
        let (id, key, replicas, from) = (op.id, op.key, op.replicas, op.sent);
        // A root asked straight answers within a round trip; a faulty one
        // never does, and waiting the routes' whole timeout for it made a
        // secure lookup's 99th percentile under attack two timeouts (#29).
        // Twice the slowest root's timeout, at least a quarter of the
        // routes' (hops that ack fast must not cut a far root off).
        let timeout = self.config.secure.timeout;
        let wait = roots
            .iter()
            .map(|p| self.rto_for(p.id))
            .max()
            .unwrap_or_default()
            .saturating_mul(2)
            .clamp(timeout / 4, timeout);
        self.secure_ops[i].confirm_from = Some(from);
        for root in roots {
            if self.pool.free_slots() <= POOL_RESERVE.min(POOL / 4) {
                break;
            }
            let msg_id = id.wrapping_add(u64::from(self.secure_ops[i].sent) + 1);
            if !self.send_query(msg_id, (key, key), replicas, Some(root)) {
                break;
            }
            let op = &mut self.secure_ops[i];
            op.sent += 1;
        }
        let op = &mut self.secure_ops[i];
        op.planned = op.sent;
        op.deadline = self.now + wait;
        if op.sent == from {
            // No root to ask, or no slot for it.
            self.finish_secure(i);
        }
    }

    /// Diverse first hops, distinct, at most `routes`: leaf-set members,
    /// nearest first on each side in turn, up to half of them, then
    /// constrained and proximity-table entries (ids unlike ours, so unlike
    /// points and paths), then more members if the tables are short.
    /// While a new node fills its constrained table the first time, its
    /// view is what its join path gave it, which faulty nodes on the path
    /// make up of colluders (eclipse): its queries start at its bootstrap,
    /// which it trusts (OSDI'02 §4: a joining node relies on a correct
    /// bootstrap), and go on through that node's constrained table.
    pub(super) fn trusted_start(&self) -> Option<Peer> {
        self.bootstrap
            .filter(|_| !self.filled_once && self.config.secure.enabled)
    }

    pub(super) fn first_hops(&self) -> Vec<Peer, MAX_ROUTES> {
        let mut out: Vec<Peer, MAX_ROUTES> = Vec::new();
        let limit = usize::from(self.config.secure.routes).min(MAX_ROUTES);
        if let Some(b) = self.trusted_start() {
            // Every route through it; their targets spread them after.
            for _ in 0..limit {
                let _ = out.push(b);
            }
            return out;
        }
        let ls = self.routing.leaf_set();
        let members = ls
            .left()
            .iter()
            .zip(ls.right().iter())
            .flat_map(|(a, b)| [*a, *b])
            .chain(ls.left().iter().skip(ls.right().len()).copied())
            .chain(ls.right().iter().skip(ls.left().len()).copied());
        let others = || {
            self.constrained
                .entries()
                .copied()
                .chain(self.routing.table().entries().map(|(_, _, e)| e.peer))
        };
        // A route's hops are fixed by its first hop's id: each constrained
        // entry it takes is the node nearest a point made of the key's
        // prefix and the hop's own later digits, so digit c of the first
        // hop picks the nodes the route meets where it nears the key.
        // Ids alike there meet the same nodes, and a few faulty ones
        // catch them all (#29: traced at 10,000 nodes, where the table's
        // row-0 entries and our own route all met one node). So first
        // hops with digit c unlike the others' first, then with digits c
        // and c + 1 unlike, then the rest.
        let c = self.diverse_digit();
        let mut seen = [0u16; 16];
        // At most half through the leaf set, the nearest members first: a
        // node whose join a faulty root answered holds colluders alone
        // there until its check finds its true neighbours, and with a leaf
        // set of 32 every route would start at one (#29). Then the tables,
        // then the rest of the leaf set if the tables are short.
        let half = limit.div_ceil(2);
        let mut from_members = 0;
        for pass in 0..4 {
            let mut take = |p: Peer, member: bool| {
                let (a, b) = (usize::from(p.id.digit(c)), p.id.digit(c + 1));
                let fresh = match pass {
                    0 => seen[a] == 0,
                    1 => seen[a] & (1 << b) == 0,
                    _ => true,
                };
                // Pass 3: the tables are short, the rest of the leaf set.
                let room = !member || pass == 3 || from_members < half;
                if fresh
                    && room
                    && out.len() < limit
                    && !out.iter().any(|q| q.id == p.id)
                    && !self.probes.is_suspect(p.id)
                {
                    seen[a] |= 1 << b;
                    from_members += usize::from(member);
                    let _ = out.push(p);
                }
            };
            members.clone().for_each(|p| take(p, true));
            if pass < 3 {
                others().for_each(|p| take(p, false));
            }
        }
        out
    }

    /// The digit of a first hop's id that decides which nodes its route
    /// meets as it nears the key: the one before the first row whose
    /// nodes' leaf sets reach the key from anywhere in their prefix (a
    /// prefix no wider than half the leaf set's span).
    fn diverse_digit(&self) -> usize {
        let ls = self.routing.leaf_set();
        let (Some(l), Some(r)) = (ls.farthest_left(), ls.farthest_right()) else {
            return 1;
        };
        // The span as a fraction of the ring is 2^-z at about z = its
        // leading zeros; prefixes of r digits are 2^-4r wide.
        let z = l.id.cw_distance(r.id).high_64().leading_zeros() as usize;
        (z + 2)
            .div_ceil(4)
            .saturating_sub(1)
            .clamp(1, crate::id::DIGITS - 2)
    }

    /// Sends what it can of lookup `i`'s redundant routes, leaving slots
    /// for other traffic; the rest when slots free up.
    pub(super) fn send_redundant(&mut self, i: usize) {
        let hops = self.first_hops();
        // Through one trusted first hop, a few at a time: all at once
        // would fill its message slots, and it would drop the rest.
        let mut burst = if self.trusted_start().is_some() {
            4
        } else {
            usize::MAX
        };
        loop {
            if burst == 0 {
                return;
            }
            burst -= 1;
            let op = &self.secure_ops[i];
            if op.sent >= op.planned {
                return;
            }
            let Some(&first) = hops.get(usize::from(op.sent)) else {
                // The hops changed since planned: fewer now.
                self.secure_ops[i].planned = op.sent;
                return;
            };
            if self.pool.free_slots() <= POOL_RESERVE.min(POOL / 4) {
                return;
            }
            let (id, key, k, replicas) = (op.id, op.key, op.sent, op.replicas);
            // Every other route aims beside the key, as far from it as a
            // leaf-set member is from us (members in turn): the routes
            // land across the key's neighbourhood, not all on its root.
            let own = self.own().id;
            let ls = self.routing.leaf_set();
            let j = usize::from(k / 2);
            let beside = match j % 2 == 0 {
                true => ls.left().get((j / 2) % ls.left().len().max(1)),
                false => ls.right().get((j / 2) % ls.right().len().max(1)),
            };
            let target = match (k % 3, beside) {
                _ if k > 0 && self.trusted_start().is_some() => waypoint(id, k),
                (1, Some(m)) => key.offset(own.cw_distance(m.id)),
                (2, Some(m)) => key
                    .offset(own.cw_distance(m.id))
                    .offset(own.cw_distance(m.id)),
                (2, _) => waypoint(id, k),
                _ => key,
            };
            let msg_id = id.wrapping_add(u64::from(k) + 1);
            if !self.send_query(msg_id, (key, target), replicas, Some(first)) {
                self.stats.secure.routes_refused += 1;
                return;
            }
            let op = &mut self.secure_ops[i];
            op.sent += 1;
            op.deadline = self.now + self.config.secure.timeout;
        }
    }
}

/// Route `k` of lookup `id` through a point of the ring fixed by the two:
/// routes that all start at one node (a new node's bootstrap) would all
/// take its one constrained entry towards the key; through points spread
/// over the ring they leave by different entries and meet only near the
/// key (a query heads for the key once at its waypoint's root).
fn waypoint(id: u64, k: u8) -> Id {
    let mut b = [0u8; 20];
    let mut x = id ^ (u64::from(k) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in b.chunks_mut(8) {
        x ^= x >> 31;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 29;
        chunk.copy_from_slice(&x.to_be_bytes()[..chunk.len()]);
    }
    Id::from_bytes(b)
}
