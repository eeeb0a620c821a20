//! Secure lookups (OSDI'02 §5) as the node runs them (the
//! `secure-routing` feature; every build relays queries, `queries.rs`).
//! A secure lookup
//! finds a key's replica roots: a query is routed through constrained
//! tables only ([`crate::secure::ConstrainedTable`]); the first node whose
//! leaf set covers the key answers with that leaf set; the answer must
//! pass the routing failure test ([`crate::secure::FailureTest`]). When it
//! fails, or no answer comes, or the caller asks for it, the query goes
//! again through every diverse first hop the node has (leaf-set members,
//! then constrained and routing-table entries) and the answers are
//! merged: ids are certified, so an answer can add only real nodes, and
//! one correct route brings the true roots. `secure_route` then sends the
//! message to each root straight.
//!
//! The node uses it itself when `SecureConfig::enabled`: to fill its
//! constrained table (a lookup per slot's point) and, once joined, to
//! check its leaf set against the true neighbours of its id (a join reply
//! from a faulty root lists only colluders).

use heapless::Vec;

use super::app::Forwarder;
use super::event::{CommandError, Ev};
use super::pool::{Carried, SlotRef, SlotState};
use super::queries::{MAX_SECURE_ROOTS, Secured};
use super::{Node, Phase};
use crate::id::Id;
use crate::peer::Peer;
use crate::secure::FailureTest;
use crate::time::Instant;
use crate::wire::{AppId, PeerList, ReplicaSet};

/// Candidates a lookup keeps: the closest to its key of all it heard.
const CANDIDATES: usize = 12;

/// Secure lookups under way at once.
pub(crate) const SECURE_OPS: usize = 4;

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The caller's: an event when done.
    Caller,
    /// `secure_route`: the message waits in this slot, then goes to
    /// every root.
    Route(SlotRef),
    /// A point of the constrained table.
    Fill,
    /// A point of the constrained table inside our leaf set's range, where
    /// our true neighbours are: looked up all the same, for a leaf set
    /// that a faulty root's join reply made (its nodes are offered to the
    /// leaf set too).
    FillNear,
    /// This node's own id after it joined: its true neighbours.
    OwnLeafSet,
}

#[derive(Clone, Debug)]
pub(crate) struct SecureOp {
    pub(super) id: u64,
    pub(super) key: Id,
    pub(super) replicas: u8,
    pub(super) purpose: Purpose,
    pub(super) redundant: bool,
    /// Redundant routes sent (the roots' own queries of the last round
    /// included); bit `i` set when route `i` answered.
    pub(super) sent: u8,
    pub(super) answered: u64,
    /// In the last round (the roots found, asked straight): the routes
    /// sent before it.
    pub(super) confirm_from: Option<u8>,
    /// First hops the redundant phase will use.
    pub(super) planned: u8,
    pub(super) deadline: Instant,
    /// Done, waiting to be polled as an event.
    pub(super) done: bool,
    pub(super) candidates: Vec<Peer, CANDIDATES>,
}

impl SecureOp {
    /// Keeps `p` if it is among the closest to the key so far.
    fn merge(&mut self, p: Peer) {
        // Most peers of a full list's later answers are farther than its
        // last: one comparison instead of a scan (sim, 2,000 nodes under
        // attack: merging was 6.5 % of the run).
        if let Some(last) = self.candidates.last().filter(|_| self.candidates.is_full()) {
            if !self.key.cmp_closeness(p.id, last.id).is_lt() {
                return;
            }
        }
        if self.candidates.iter().any(|c| c.id == p.id) {
            return;
        }
        let at = self
            .candidates
            .iter()
            .position(|c| self.key.cmp_closeness(p.id, c.id).is_lt())
            .unwrap_or(self.candidates.len());
        if at == CANDIDATES {
            return;
        }
        if self.candidates.is_full() {
            self.candidates.pop();
        }
        let _ = self.candidates.insert(at, p);
    }

    pub(super) fn roots(&self) -> &[Peer] {
        let n = usize::from(self.replicas).min(self.candidates.len());
        &self.candidates[..n]
    }
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
    /// Finds `key`'s `replicas` closest live nodes despite faulty ones
    /// (OSDI'02 §5): a query through constrained tables, checked by the
    /// routing failure test, else (or with `redundant`) queries through
    /// every diverse first hop, merged. Ends with
    /// [`super::Event::Secured`] carrying the returned id.
    pub fn secure_lookup(
        &mut self,
        now: Instant,
        key: Id,
        replicas: usize,
        redundant: bool,
    ) -> Result<u64, CommandError> {
        self.advance(now);
        if self.phase != Phase::Active {
            return Err(CommandError::NotActive);
        }
        self.start_secure(key, replicas, Purpose::Caller, redundant)
    }

    /// OSDI'02's `sec_route(key, msg, r)`: finds `key`'s `replicas`
    /// roots by [`Node::secure_lookup`] through redundant routing (§5.3:
    /// always, not only when the failure test fires), then sends
    /// `payload` to each of them straight, to be delivered there ([`super::Event::Deliver`]
    /// with the returned id as its `msg_id`). The caller also gets
    /// [`super::Event::Secured`] naming the roots, or
    /// [`super::Event::RouteFailed`] when none was found.
    pub fn secure_route(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        payload: &[u8],
        replicas: usize,
    ) -> Result<u64, CommandError> {
        let r = self.own_slot(now, payload, |n| n.secure_ops.is_full())?;
        let per_hop = self.policy.get(app).per_hop;
        // Numbered before the lookup starts: it may end at once.
        let id = self.random_u64();
        if let Some(s) = self.pool.get_mut(r) {
            s.msg_id = id;
            s.key = key;
            s.app = app;
            s.per_hop = per_hop;
            s.handoff = true;
            s.authenticated = true;
            s.state = SlotState::Securing;
        }
        self.start_secure_as(id, key, replicas, Purpose::Route(r), true)
            .inspect_err(|_| self.pool.free(r))
    }

    /// The constrained routing table.
    pub fn constrained_table(&self) -> &crate::secure::ConstrainedTable<ROWS> {
        &self.constrained
    }

    pub(super) fn start_secure(
        &mut self,
        key: Id,
        replicas: usize,
        purpose: Purpose,
        redundant: bool,
    ) -> Result<u64, CommandError> {
        let id = self.random_u64();
        self.start_secure_as(id, key, replicas, purpose, redundant)
    }

    fn start_secure_as(
        &mut self,
        id: u64,
        key: Id,
        replicas: usize,
        purpose: Purpose,
        redundant: bool,
    ) -> Result<u64, CommandError> {
        if self.secure_ops.is_full() {
            return Err(CommandError::QueueFull);
        }
        let op = SecureOp {
            id,
            key,
            replicas: replicas.clamp(1, MAX_SECURE_ROOTS) as u8,
            purpose,
            redundant: false,
            sent: 0,
            answered: 0,
            confirm_from: None,
            planned: 0,
            deadline: self.now + self.config.secure.timeout,
            done: false,
            candidates: Vec::new(),
        };
        let _ = self.secure_ops.push(op);
        self.stats.secure.lookups += 1;
        let i = self.secure_ops.len() - 1;
        // Checking our own leaf set, we cannot take it as the answer.
        let checking = matches!(purpose, Purpose::OwnLeafSet | Purpose::FillNear);
        if !checking && self.knows_roots(key, replicas) {
            // We are among the key's neighbours: our own leaf set is the
            // answer, checked when it was built.
            self.merge_own_neighbourhood(i);
            self.finish_secure(i);
            return Ok(id);
        }
        if redundant {
            self.go_redundant(i);
        } else if !self.send_query(
            id,
            (key, key),
            replicas.clamp(1, MAX_SECURE_ROOTS) as u8,
            self.trusted_start(),
        ) {
            self.secure_ops.pop();
            return Err(CommandError::PoolFull);
        }
        Ok(id)
    }

    fn merge_own_neighbourhood(&mut self, i: usize) {
        let own = self.own();
        let members: Vec<Peer, 64> = self.routing.leaf_set().members().copied().collect();
        let op = &mut self.secure_ops[i];
        op.merge(own);
        for p in members {
            op.merge(p);
        }
    }

    /// Sends query `msg_id` for `key`, through `first` or (`None`) the
    /// constrained next hop. Whether a slot took it.
    pub(super) fn send_query(
        &mut self,
        msg_id: u64,
        (key, target): (Id, Id),
        replicas: u8,
        first: Option<Peer>,
    ) -> bool {
        let own = self.own();
        let carried = Carried::Query { replicas, key };
        let Some(r) = self.pool.alloc(carried, own, &[], None) else {
            return false;
        };
        if let Some(s) = self.pool.get_mut(r) {
            s.msg_id = msg_id;
            s.key = target;
            s.app = AppId::OVERLAY;
            s.hops = 0;
            s.authenticated = true;
        }
        self.seen.originated(own.id, msg_id);
        self.stats.secure.queries_sent += 1;
        match first {
            Some(p) => self.send_slot(r, p),
            None => self.dispatch_query(r),
        }
        true
    }

    /// Our own query came back to us: we are the closest node we know to
    /// its target.
    pub(super) fn own_query_answered(&mut self, msg_id: u64, complete: bool) {
        if let Some(i) = self.secure_op_of(msg_id) {
            self.merge_own_neighbourhood(i);
            if complete {
                self.answer_arrived(i, msg_id);
            }
        }
    }

    /// The lookup a query or answer numbered `msg_id` belongs to.
    fn secure_op_of(&self, msg_id: u64) -> Option<usize> {
        self.secure_ops.iter().position(|op| {
            let k = msg_id.wrapping_sub(op.id);
            !op.done && (k == 0 || (op.redundant && k <= u64::from(op.sent)))
        })
    }

    /// An answer to one of our queries.
    pub(super) fn on_replica_set(&mut self, sender: Peer, m: ReplicaSet<'_>) {
        self.heard_one_way(sender);
        let Some(i) = self
            .secure_op_of(m.msg_id)
            .filter(|&i| self.secure_ops[i].key == m.key)
        else {
            self.stats.secure.unsolicited_answers += 1;
            return;
        };
        let own = self.own().id;
        let answer = m
            .leaf_set
            .left
            .iter()
            .chain(m.leaf_set.right.iter())
            .chain(core::iter::once(sender))
            .filter(|p| p.id != own);
        let answer: Vec<Peer, 64> = answer.collect();
        let op = &mut self.secure_ops[i];
        if !m.complete {
            // Part of the neighbourhood, from a node on the way: kept; the
            // route is not done.
            for p in answer {
                op.merge(p);
            }
            return;
        }
        if !op.redundant {
            let ids: Vec<Id, 64> = answer.iter().map(|p| p.id).collect();
            let members: Vec<Id, 64> = self.routing.leaf_set().members().map(|p| p.id).collect();
            let test = FailureTest {
                gamma_permille: self.config.secure.gamma_permille,
            };
            if test.check(own, &members, m.key, &ids).is_err() {
                self.stats.secure.test_fired += 1;
                self.go_redundant(i);
                return;
            }
        }
        let op = &mut self.secure_ops[i];
        for p in answer {
            op.merge(p);
        }
        self.answer_arrived(i, m.msg_id);
    }

    /// Counts an answer to query `msg_id` of lookup `i`; ends the lookup
    /// when it has all it waits for.
    fn answer_arrived(&mut self, i: usize, msg_id: u64) {
        let op = &mut self.secure_ops[i];
        if !op.redundant {
            self.finish_secure(i);
            return;
        }
        let k = msg_id.wrapping_sub(op.id);
        if (1..=64).contains(&k) {
            op.answered |= 1 << (k - 1);
        }
        // Every route answered; in the last round, every root asked.
        let from = op.confirm_from.unwrap_or(0);
        if op.sent >= op.planned && (op.answered >> from).count_ones() >= u32::from(op.sent - from)
        {
            self.routes_ended(i);
        }
    }

    /// Lookup `i` ended: its roots go where its purpose says.
    pub(super) fn finish_secure(&mut self, i: usize) {
        let op = &mut self.secure_ops[i];
        op.done = true;
        let (id, purpose) = (op.id, op.purpose);
        if !op.candidates.is_empty() {
            self.stats.secure.completed += 1;
        }
        match purpose {
            Purpose::Caller => {
                if !self.push_event(Ev::Secured(id)) {
                    self.secure_ops.swap_remove(i);
                }
            }
            Purpose::Route(r) => {
                let roots: Vec<Peer, MAX_SECURE_ROOTS> =
                    self.secure_ops[i].roots().iter().copied().collect();
                self.send_to_roots(r, &roots);
                if !self.push_event(Ev::Secured(id)) {
                    self.secure_ops.swap_remove(i);
                }
            }
            Purpose::Fill | Purpose::FillNear => {
                let op = self.secure_ops.swap_remove(i);
                for p in op.candidates {
                    self.constrained.consider(p);
                    // A node a secure lookup found that belongs in our
                    // leaf set is one our join reply left out: a faulty
                    // root names only colluders, and the routes of our own
                    // id's check funnel into the faulty nodes of our id's
                    // sparse prefix, while the points near our id lead
                    // elsewhere (#29). Probed first.
                    self.offer_leaf_candidate(p, true);
                }
            }
            Purpose::OwnLeafSet => {
                let op = self.secure_ops.swap_remove(i);
                for p in op.candidates {
                    self.constrained.consider(p);
                    self.offer_leaf_candidate(p, true);
                }
            }
        }
    }

    /// `secure_route`'s message, waiting in `r`, to each root straight
    /// (the root delivers it as a hand-off); to us if we are one. Roots no
    /// slot is free for now wait, with `r`, for slots to free up.
    fn send_to_roots(&mut self, r: SlotRef, roots: &[Peer]) {
        if roots.is_empty() {
            self.fail_route(r);
            return;
        }
        let mut dropped = 0;
        for (k, &root) in roots.iter().enumerate() {
            // Room for every root of the lookups under way; should the
            // list be full, the message still goes to its closest roots.
            if self.unsent_roots.push((r, root)).is_err() {
                dropped = roots.len() - k;
                break;
            }
        }
        self.stats.drops.queue_full += dropped as u64;
        self.send_unsent_roots();
    }

    /// Sends the messages waiting for their roots: a copy in a new slot
    /// to each root of a message but its last, which gets the message's
    /// own slot. Stops when no slot is free.
    fn send_unsent_roots(&mut self) {
        let own = self.own();
        while let Some(&(r, root)) = self.unsent_roots.first() {
            if self.pool.get(r).is_none() {
                // The message is gone (the node left meanwhile).
                self.unsent_roots.swap_remove(0);
                continue;
            }
            let more = self.unsent_roots[1..].iter().any(|&(s, _)| s == r);
            let slot = if more {
                let mut payload = super::Payload::new();
                let _ = payload.extend_from_slice(self.pool.payload(r));
                let Some(copy) = self.pool.alloc(Carried::Routed, own, &payload, None) else {
                    return;
                };
                if let (Some(a), Some(b)) = (self.pool.get(r).cloned(), self.pool.get_mut(copy)) {
                    b.msg_id = a.msg_id;
                    b.key = a.key;
                    b.app = a.app;
                    b.per_hop = a.per_hop;
                    b.handoff = true;
                    b.authenticated = true;
                }
                copy
            } else {
                r
            };
            self.unsent_roots.swap_remove(0);
            if root.id == own.id {
                self.deliver(slot);
            } else {
                self.send_slot(slot, root);
            }
        }
    }

    /// Lookups past their deadline: a single route unanswered goes
    /// redundant; a redundant one ends with what it has. Redundant routes
    /// still to send go out as slots free up.
    pub(super) fn run_secure_timeouts(&mut self) {
        self.send_unsent_roots();
        let now = self.now;
        let mut i = 0;
        while i < self.secure_ops.len() {
            let op = &self.secure_ops[i];
            if op.done {
                i += 1;
                continue;
            }
            if op.redundant && op.sent < op.planned {
                self.send_redundant(i);
            }
            let op = &self.secure_ops[i];
            if op.deadline > now {
                i += 1;
                continue;
            }
            if !op.redundant {
                self.stats.secure.single_timeouts += 1;
                self.go_redundant(i);
                i += 1;
                continue;
            }
            let before = self.secure_ops.len();
            self.routes_ended(i);
            if self.secure_ops.len() == before {
                i += 1;
            }
        }
    }

    /// The earliest deadline of the lookups under way.
    pub(super) fn secure_deadline(&self) -> Option<Instant> {
        // Copies waiting for slots: retry within an RTT, as slots free.
        let unsent = (!self.unsent_roots.is_empty()).then(|| self.now + self.config.min_rto);
        self.secure_ops
            .iter()
            .filter(|op| !op.done)
            .map(|op| {
                if op.redundant && op.sent < op.planned {
                    // Retry sending soon: slots free up within an RTT.
                    op.deadline.min(self.now + self.config.min_rto)
                } else {
                    op.deadline
                }
            })
            .chain(unsent)
            .min()
    }

    /// Lends lookup `id`'s outcome for its event; the lookup goes at the
    /// next poll.
    pub(super) fn lend_secured(&mut self, id: u64) -> Option<Secured<'_>> {
        let op = self.secure_ops.iter().find(|op| op.done && op.id == id)?;
        self.lent_secure = Some(id);
        Some(Secured {
            op: op.id,
            key: op.key,
            roots: PeerList::Peers(op.roots()),
            redundant: op.redundant,
        })
    }

    /// Whether lookup `id` ended and waits to be polled.
    pub(super) fn secure_ops_done(&self, id: u64) -> bool {
        self.secure_ops.iter().any(|op| op.done && op.id == id)
    }

    /// Forgets the lookup whose outcome was lent.
    pub(super) fn release_secured(&mut self) {
        if let Some(id) = self.lent_secure.take() {
            self.secure_ops.retain(|op| !(op.done && op.id == id));
        }
    }
}
