//! Secure queries as every node relays them (OSDI'02 §5.3): routed
//! towards their target through the constrained table (when this build
//! keeps one) and answered with the leaf set by the first node that holds
//! the key's closest nodes; a node that covers the key on the way answers
//! too, in case the next hop is a faulty root. The lookups that send
//! queries and judge their answers are `secure.rs`.

use super::Node;
use super::app::Forwarder;
use super::outbox::Out;
use super::pool::{Carried, SlotRef};
use crate::id::Id;
use crate::peer::Peer;
use crate::routing::NextHop;
use crate::wire::{AppId, PeerList, Query};

/// Most replica roots a secure lookup returns.
pub const MAX_SECURE_ROOTS: usize = 8;

/// Most first hops of the redundant phase.
pub const MAX_ROUTES: usize = 32;

/// Answers a node sends at once before its ration applies.
pub const ANSWER_BURST: u32 = 64;

/// Then one answer this often (100 a second).
pub const ANSWER_EVERY: core::time::Duration = core::time::Duration::from_millis(10);

/// A secure lookup that ended ([`super::Event::Secured`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secured<'a> {
    /// The id `secure_lookup` or `secure_route` returned.
    pub op: u64,
    /// The key.
    pub key: Id,
    /// Its replica roots, closest to the key first (empty: no answer
    /// came). Borrowed from the node until its next poll.
    pub roots: PeerList<'a>,
    /// Whether it went through redundant routing (asked for, or the
    /// failure test fired, or the single route went unanswered).
    pub redundant: bool,
}

/// What secure routing did, counted ([`super::Stats::secure`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecureStats {
    /// Secure lookups started (the caller's and the node's own).
    pub lookups: u64,
    /// Of them, ended with roots.
    pub completed: u64,
    /// Single-route answers that failed the routing failure test.
    pub test_fired: u64,
    /// Single routes that went unanswered.
    pub single_timeouts: u64,
    /// Lookups that used redundant routing.
    pub redundant: u64,
    /// Queries sent by this node (single and redundant routes).
    pub queries_sent: u64,
    /// Queries relayed for others.
    pub queries_relayed: u64,
    /// Queries answered with this node's leaf set.
    pub answered: u64,
    /// Answers not sent: over the node's ration ([`ANSWER_BURST`], then
    /// one per [`ANSWER_EVERY`]), so a flood of queries cannot turn the
    /// node into a source of leaf sets.
    pub answers_rationed: u64,
    /// Answers that matched no lookup (late, or nobody asked).
    pub unsolicited_answers: u64,
    /// Query hops taken by the proximity table, the constrained one
    /// having no closer entry.
    pub unconstrained_hops: u64,
    /// Lookups the node started to fill its constrained table.
    pub fills: u64,
    /// Redundant routes not sent: no message slot free.
    pub routes_refused: u64,
}

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// Whether our leaf set holds `key`'s `r` closest nodes: the r-th
    /// closest we know is closer to the key than either end of the leaf
    /// set, so no node beyond an end can be closer (a short side means
    /// the ring is smaller than the leaf set: we know every node).
    #[inline(never)]
    pub(super) fn knows_roots(&self, key: Id, r: usize) -> bool {
        let ls = self.routing.leaf_set();
        if !ls.covers(key) {
            return false;
        }
        let (Some(l), Some(rr)) = (ls.farthest_left(), ls.farthest_right()) else {
            return true;
        };
        if !ls.is_full() {
            return true;
        }
        // Both ends must be beyond the r-th closest: fewer than r known
        // nodes (ourselves included) may be at least as close as either.
        let own = self.own().id;
        let r = r.clamp(1, MAX_SECURE_ROOTS);
        [l.id, rr.id].into_iter().all(|end| {
            let as_close = ls
                .members()
                .map(|p| p.id)
                .chain(core::iter::once(own))
                .filter(|&id| !key.cmp_closeness(end, id).is_lt())
                .count();
            as_close > r
        })
    }

    /// A query from the previous hop.
    pub(super) fn on_query(&mut self, from: core::net::SocketAddr, sender: Peer, m: Query) {
        self.heard_one_way(sender);
        let replicas = m.replicas.clamp(1, MAX_SECURE_ROOTS as u8);
        let Some(r) = self.accept_hop(
            from,
            sender.id,
            Carried::Query {
                replicas,
                key: m.key,
            },
            m.source,
            m.msg_id,
            (false, 0),
            &[],
            None,
        ) else {
            return;
        };
        if let Some(s) = self.pool.get_mut(r) {
            s.key = m.target;
            s.app = AppId::OVERLAY;
            s.hops = m.hops.saturating_add(1);
        }
        self.stats.secure.queries_relayed += 1;
        self.dispatch_query(r);
    }

    /// Routes the query in `r` on through the constrained table, or
    /// answers it here.
    pub(super) fn dispatch_query(&mut self, r: SlotRef) {
        #[cfg(feature = "adversary")]
        if self.misbehave(r, NextHop::Local) {
            return;
        }
        let Some(s) = self.pool.get(r) else { return };
        let Carried::Query { key, .. } = s.carried else {
            return;
        };
        let (first_visit, target) = (s.attempts == 0, s.key);
        let mut next = self.query_next_hop(r);
        if next.is_none() && target != key && !self.knows_roots_of(r) {
            // At the root of the query's waypoint: now for the key.
            if let Some(s) = self.pool.get_mut(r) {
                s.key = key;
                s.tried.clear();
            }
            next = self.query_next_hop(r);
        }
        match next {
            Some(p) => {
                // Covering the key, our leaf set holds some of its closest
                // nodes: tell the source before the next hop, which may be
                // a faulty root that swallows the query.
                if first_visit && self.routing.leaf_set().covers(key) {
                    self.send_answer(r, false, false);
                }
                self.send_slot(r, p);
            }
            None => self.answer_query(r, false),
        }
    }

    /// The next hop of a query: none when our leaf set holds the key's
    /// closest nodes (we answer). Else towards its target (the slot's
    /// key): the constrained table's entry, outside our leaf set's range;
    /// else as a routed message goes (counted outside the leaf set's
    /// range: the constrained table has no entry yet, or this build keeps
    /// none). None at the target's root (the route ends here).
    #[inline(never)]
    fn query_next_hop(&mut self, r: SlotRef) -> Option<Peer> {
        let s = self.pool.get(r)?;
        let Carried::Query { replicas, key } = s.carried else {
            return None;
        };
        if self.knows_roots(key, usize::from(replicas)) {
            return None;
        }
        let target = s.key;
        if !self.routing.leaf_set().covers(target) {
            #[cfg(feature = "secure-routing")]
            {
                let own = self.own().id;
                let usable = |p: &Peer| {
                    p.id != own && !s.tried.contains(&p.id) && !self.probes.is_suspect(p.id)
                };
                if let Some(p) = self.constrained.next_hop(target, |p| !usable(p)) {
                    return Some(p);
                }
            }
            self.stats.secure.unconstrained_hops += 1;
        }
        match self.choose_next_hop(r, None) {
            NextHop::Forward(p) => Some(p),
            NextHop::Local => None,
        }
    }

    /// Whether our leaf set holds the closest nodes the query in `r` asks
    /// for.
    fn knows_roots_of(&self, r: SlotRef) -> bool {
        match self.pool.get(r).map(|s| s.carried) {
            Some(Carried::Query { replicas, key }) => self.knows_roots(key, usize::from(replicas)),
            _ => false,
        }
    }

    /// Answers the query in `r` as the node that knows the key's roots
    /// (or, `forged`, with the adversary's colluders), and frees it.
    pub(super) fn answer_query(&mut self, r: SlotRef, forged: bool) {
        self.send_answer(r, true, forged);
        self.pool.free(r);
    }

    /// Sends the source of the query in `r` our leaf set.
    fn send_answer(&mut self, r: SlotRef, complete: bool, forged: bool) {
        let Some(s) = self.pool.get(r) else { return };
        let Carried::Query { key, .. } = s.carried else {
            return;
        };
        let (source, msg_id) = (s.source, s.msg_id);
        if source.id == self.own().id {
            // Our own query: no node we know is closer than us.
            #[cfg(feature = "secure-routing")]
            self.own_query_answered(msg_id, complete);
            return;
        }
        if !self
            .answer_ration
            .take(self.now, ANSWER_BURST, ANSWER_EVERY)
        {
            self.stats.secure.answers_rationed += 1;
            return;
        }
        self.stats.secure.answered += 1;
        self.push_out(Out::ReplicaSet {
            to: source.addr,
            msg_id,
            key,
            complete,
            forged,
        });
    }
}
