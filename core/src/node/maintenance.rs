//! Keeping the ring: join (Pastry'01 §2.4 with MSPastry's consistent
//! activation), keep-alive and failure detection, eager leaf-set repair,
//! lazy routing-table repair and periodic maintenance (MSPastry §3).

use core::net::SocketAddr;
use core::time::Duration;

use heapless::Vec;

use super::app::Forwarder;
use super::event::{CommandError, Ev};
use super::graveyard::Graveyard;
use super::heard::HeardLately;
use super::outbox::Out;
use super::pool::SlotState;
use super::probes::{Probe, Probes, Purpose};
use super::{JoinState, Node, Phase, REFINE_ROUNDS, TIMERS, Timer};
use crate::id::Id;
use crate::leaf_set::NODE_SET_CAPACITY;
use crate::peer::Peer;
use crate::routing::RoutingState;
use crate::routing_table::Rtt;
use crate::time::Instant;
use crate::wire::{JoinReply, JoinRequest, LeafSetExchange, LeafSetView, Leave, ProbeReply};

/// Retries of a probe of a leaf-set candidate (see `retries_for`).
const LEAF_CANDIDATE_RETRIES: u8 = 3;

impl<const HALF: usize, const ROWS: usize, const POOL: usize, const QUEUE: usize, F: Forwarder>
    Node<HALF, ROWS, POOL, QUEUE, F>
{
    // ----- join -----

    pub(super) fn start_join(&mut self, bootstrap: SocketAddr) -> Result<(), CommandError> {
        if self.outbox.is_full() {
            return Err(CommandError::QueueFull);
        }
        self.send_join_request(bootstrap, self.first_hop_wait(0));
        self.phase = Phase::Joining;
        self.join = Some(JoinState {
            bootstrap,
            retries_left: self.config.join_retries,
            root_replied: false,
            acked: false,
            resent: 0,
        });
        Ok(())
    }

    /// A join request to `to`, under a fresh id, and the wait for its ack.
    fn send_join_request(&mut self, to: SocketAddr, wait: Duration) {
        let msg_id = self.random_u64();
        self.push_out(Out::JoinRequest { to, msg_id });
        self.set_timer(Timer::Join, Some(self.now + wait));
    }

    /// How long a joiner waits for its bootstrap's ack of the join request
    /// before sending it again: the first hop is acked like any other
    /// (MSPastry §3.2), so a request the bootstrap dropped (its pool full
    /// under a burst of joins, or a lost datagram) costs a retransmission
    /// timeout, not a whole join timeout. Backs off from the initial RTO.
    fn first_hop_wait(&self, resent: u8) -> Duration {
        let rto = self.config.initial_rto * (1u32 << resent.min(4));
        rto.min(self.config.max_rto).min(self.config.join_timeout)
    }

    /// The waits of a request sent `resent + 1` times.
    fn first_hop_spent(&self, resent: u8) -> Duration {
        (0..=resent).map(|i| self.first_hop_wait(i)).sum()
    }

    /// The bootstrap acked the join request: wait for the join itself.
    pub(super) fn join_acked(&mut self, from: SocketAddr) -> bool {
        let Some(j) = &mut self.join else {
            return false;
        };
        if self.phase != Phase::Joining || j.bootstrap != from || j.acked {
            return false;
        }
        j.acked = true;
        self.set_timer(Timer::Join, Some(self.now + self.config.join_timeout));
        true
    }

    /// A join request, from the joiner (first hop) or from a node routing
    /// it: route it on towards the joiner's id, or answer as its root.
    pub(super) fn on_join_request(&mut self, from: SocketAddr, sender: Peer, m: JoinRequest) {
        let joiner = m.joiner;
        // The joiner itself (at its bootstrap) is not active yet: taking it
        // into our state would route messages and other joins to a node
        // that can only hold them. It is learned when it probes its leaf
        // set after the root's reply (MSPastry).
        if sender.id != joiner.id {
            self.heard_one_way(sender);
        }
        if joiner.id == self.own().id {
            // Another node claims our id: refuse to treat it as a join.
            self.stats.drops.unsolicited += 1;
            return;
        }
        if !matches!(self.phase, Phase::Active | Phase::Joining) {
            self.stats.drops.not_active += 1;
            return;
        }
        let carried = super::pool::Carried::Join { joiner };
        let Some(r) = self.accept_hop(from, sender.id, carried, joiner, m.msg_id, false, &[])
        else {
            return;
        };
        if let Some(s) = self.pool.get_mut(r) {
            s.key = joiner.id;
            s.hops = m.hops.saturating_add(1);
        }
        if self.phase == Phase::Joining {
            // MSPastry: a node still joining (already in others' leaf sets)
            // buffers what it is asked to route until it is active; a drop
            // would stall the other join behind it.
            self.buffer_until_active(r);
        } else {
            self.dispatch(r, None);
        }
    }

    /// Rows for the joiner from a node on its path; from the root also its
    /// leaf set, whose members the joiner must confirm before it is active.
    pub(super) fn on_join_reply(&mut self, sender: Peer, m: JoinReply<'_>) {
        self.heard_one_way(sender);
        for p in m.rows.iter() {
            self.offer_table_candidate(p);
        }
        if !m.from_root || self.phase != Phase::Joining {
            return;
        }
        if let Some(j) = &mut self.join {
            j.root_replied = true;
        }
        for p in m.leaf_set.left.iter().chain(m.leaf_set.right.iter()) {
            self.offer_leaf_candidate(p, true);
        }
        self.check_activation();
    }

    /// MSPastry's consistency rule: active only once every leaf-set
    /// candidate has answered, so every member already knows us.
    pub(super) fn check_activation(&mut self) {
        let root_replied = self.join.is_some_and(|j| j.root_replied);
        if self.phase == Phase::Joining
            && root_replied
            && !self.probes.any(|p| p.purpose == Purpose::LeafCandidate)
        {
            if self.routing.leaf_set().is_empty() {
                // Not one candidate answered, the root included (it died
                // while its reply was on the way): active now, this node
                // would be a ring of its own for good. The join failed;
                // the application joins again through another node.
                // (Found by the sim_faults fuzz target.)
                self.abandon_join();
                self.push_event(Ev::JoinFailed);
                return;
            }
            self.become_active();
        }
    }

    pub(super) fn become_active(&mut self) {
        self.phase = Phase::Active;
        self.join = None;
        self.set_timer(Timer::Join, None);
        let hb = self.jittered(self.config.heartbeat_period);
        self.set_timer(Timer::Heartbeat, Some(self.now + hb));
        let mt = self.jittered(self.config.maintenance_period);
        self.set_timer(Timer::Maintenance, Some(self.now + mt));
        self.refresh_right_watch();
        self.push_event(Ev::Joined);
        self.refine_rounds = REFINE_ROUNDS;
        self.set_timer(Timer::Refine, Some(self.now + self.config.probe_timeout));
        // Pastry'01 §2.5: tell every node in the table about us by asking
        // it for its row. Each may take us as a nearer entry (it probes
        // us); its row gives us candidates, probed, and nearer ones replace
        // farther entries, so a far bootstrap still ends proximity-good.
        // At most half the outbound queue, lowest rows (the most) first.
        let mut asks: Vec<(SocketAddr, u8), 64> = Vec::new();
        for (row, _, e) in self.routing.table().entries().take(QUEUE / 2) {
            let _ = asks.push((e.peer.addr, row as u8));
        }
        // The root's reply carries its deepest rows first and may have
        // had no room for the lowest: ask for any row still empty.
        for row in 0..ROWS {
            let empty = self
                .routing
                .table()
                .row(row)
                .is_some_and(|r| r.iter().all(Option::is_none));
            if !empty {
                continue;
            }
            match self.member_sharing(row) {
                Some(p) => {
                    let _ = asks.push((p.addr, row as u8));
                }
                None => break,
            }
        }
        for (to, row) in asks {
            self.push_out(Out::RowRequest { to, row });
        }
        self.redispatch_buffered();
    }

    fn join_timed_out(&mut self) {
        let Some(j) = self.join else { return };
        if j.root_replied {
            // Waiting on leaf-set probes, which time out by themselves.
            self.set_timer(Timer::Join, Some(self.now + self.config.join_timeout));
            return;
        }
        if !j.acked {
            // No ack from the bootstrap: send the request again while the
            // backed-off waits still fit in one join timeout.
            let next = self.first_hop_wait(j.resent + 1);
            if self.first_hop_spent(j.resent) + next <= self.config.join_timeout {
                self.join = Some(JoinState {
                    resent: j.resent + 1,
                    ..j
                });
                self.send_join_request(j.bootstrap, next);
                return;
            }
        }
        if j.retries_left == 0 {
            self.abandon_join();
            self.push_event(Ev::JoinFailed);
            return;
        }
        self.join = Some(JoinState {
            retries_left: j.retries_left - 1,
            acked: false,
            resent: 0,
            ..j
        });
        self.send_join_request(j.bootstrap, self.first_hop_wait(0));
    }

    /// A failed join leaves nothing running and nothing half-learned, so
    /// a later [`Node::join`] starts afresh.
    fn abandon_join(&mut self) {
        self.fail_buffered();
        self.phase = Phase::Idle;
        self.join = None;
        if let Ok(fresh) = RoutingState::new(self.own(), &self.config) {
            self.routing = fresh;
        }
        self.probes = Probes::new();
        self.timers = [None; TIMERS];
        self.right_watch = None;
        self.refine_rounds = 0;
        self.graveyard = Graveyard::new();
    }

    // ----- candidates -----

    /// A node learned second-hand that may belong in the leaf set: probe it
    /// first (it may be dead); it enters when it answers.
    pub(super) fn offer_leaf_candidate(&mut self, p: Peer, want_leaf_set: bool) {
        // A member we declared failed lately is still listed by others
        // until they learn; probing it again on their word is wasted (the
        // graveyard's own re-probes cover a healed partition).
        if self.graveyard.contains(p.id) {
            return;
        }
        if p.id == self.own().id || !self.routing.leaf_set().admits(p.id) {
            return;
        }
        match self.routing.leaf_set().get(p.id).copied() {
            // A member of one side that belongs on the other too (a small
            // ring): as live as it is a member, so no probe; and at the
            // address we know, not the one a third party gave.
            Some(known) => {
                self.insert_leaf(known);
                self.refresh_right_watch();
            }
            None => {
                self.probe(p, Purpose::LeafCandidate, want_leaf_set);
            }
        }
    }

    /// A node learned second-hand for the routing table: an empty slot
    /// takes it at once (unmeasured); either way it is probed for its RTT,
    /// while probe capacity allows, so a nearer node can win its slot.
    pub(super) fn offer_table_candidate(&mut self, p: Peer) {
        if p.id == self.own().id {
            return;
        }
        self.offer_leaf_candidate(p, false);
        let Some((row, col)) = self.routing.table().slot(p.id) else {
            return;
        };
        match self.routing.table().at(row, col) {
            Some(e) if e.peer.id == p.id => return,
            Some(_) => {}
            None => {
                self.routing.table_mut().consider(p, Rtt::UNKNOWN);
            }
        }
        // Measurements take at most half the probe table, so leaf-set
        // probes (which keep leaf sets symmetric) always find room.
        if self.probes.len() < QUEUE / 2 {
            self.probe(p, Purpose::Rtt, false);
        }
    }

    // ----- probes -----

    /// Starts (or strengthens) a probe of `peer`.
    pub(super) fn probe(&mut self, peer: Peer, purpose: Purpose, want_leaf_set: bool) -> bool {
        let retries = self.retries_for(purpose);
        if let Some(p) = self.probes.find_mut(peer.id) {
            if purpose > p.purpose {
                p.purpose = purpose;
                p.tries_left = p.tries_left.max(retries);
            }
            if !want_leaf_set || p.want_leaf_set {
                return true;
            }
            // The probe in flight did not ask for the leaf set: ask again
            // with the same nonce (the reply is then no RTT sample).
            p.want_leaf_set = true;
            p.resent = true;
            let (to, nonce) = (p.peer.addr, p.nonce);
            return self.push_out(Out::Probe {
                to,
                nonce,
                want_leaf_set: true,
            });
        }
        if self.outbox.is_full() {
            self.stats.transmits_dropped += 1;
            return false;
        }
        let nonce = self.random_u64();
        let probe = Probe {
            peer,
            nonce,
            sent_at: self.now,
            deadline: self.now + self.probe_wait(peer.id, 0),
            tries_left: retries,
            purpose,
            want_leaf_set,
            resent: false,
            heard: false,
        };
        if !self.probes.push(probe) {
            self.stats.drops.queue_full += 1;
            return false;
        }
        if purpose == Purpose::Suspect {
            self.stats.suspicions += 1;
        }
        self.push_out(Out::Probe {
            to: peer.addr,
            nonce,
            want_leaf_set,
        })
    }

    /// Retries a probe gets. A suspected member gets them all (declaring
    /// a live member failed is costly). A measurement is worth one: a
    /// single loss should not cost a table entry. A leaf-set candidate is
    /// second-hand news, often stale under churn, and a joiner waits on
    /// it; a live one missed is offered again by the next leaf set that
    /// lists it.
    fn retries_for(&self, purpose: Purpose) -> u8 {
        let all = self.config.probe_retries;
        match purpose {
            Purpose::Rtt => all.min(1),
            Purpose::LeafCandidate => all.min(LEAF_CANDIDATE_RETRIES),
            Purpose::Suspect => all,
        }
    }

    /// How long try `n` (0 first) of a probe of `id` waits for the reply:
    /// the hop timeout from its measured RTT, doubled for each retry (RFC
    /// 6298 backoff), at most `probe_timeout`. Loss is survived by the
    /// number of tries, a slow peer by the backoff. A peer never measured
    /// gets at least the initial RTO (RFC 6298 §2.1): our own RTT average
    /// says nothing of a far peer, and timing it out early would drop it
    /// from the table only for it to be offered and probed again.
    fn probe_wait(&self, id: Id, n: u32) -> Duration {
        let measured = self
            .routing
            .table()
            .get(id)
            .is_some_and(|e| e.rtt.is_known());
        let mut rto = self.rto_for(id);
        if !measured {
            rto = rto.max(self.config.initial_rto);
        }
        rto.saturating_mul(1 << n.min(16))
            .min(self.config.probe_timeout)
    }

    pub(super) fn suspect(&mut self, peer: Peer) {
        self.probe(peer, Purpose::Suspect, false);
    }

    pub(super) fn on_probe_reply(&mut self, sender: Peer, m: ProbeReply<'_>) {
        let probe = self.probes.find(sender.id).copied();
        let fresh = probe.is_some_and(|p| p.nonce == m.nonce);
        match probe {
            Some(p) if fresh => {
                self.probes.remove(sender.id);
                if !p.resent {
                    // Karn: only an unambiguous reply is an RTT sample.
                    let rtt = self.now.saturating_duration_since(p.sent_at);
                    self.rtt.sample(rtt);
                    self.routing
                        .table_mut()
                        .consider(sender, Rtt::from_duration(rtt));
                }
            }
            _ => self.stats.drops.unsolicited += 1,
        }
        self.heard(sender, fresh);
        let joining = self.phase == Phase::Joining;
        for q in m.leaf_set.left.iter().chain(m.leaf_set.right.iter()) {
            self.offer_leaf_candidate(q, joining);
        }
        self.probe_resolved();
    }

    /// A probe ended (answered or given up): a joiner may now be active,
    /// and messages held for a suspect may move on.
    fn probe_resolved(&mut self) {
        self.check_activation();
        if self.phase == Phase::Active {
            self.redispatch_buffered();
        }
    }

    pub(super) fn run_probe_timeouts(&mut self) {
        while let Some(p) = self.probes.due(self.now) {
            if p.tries_left > 0 {
                let all = self.retries_for(p.purpose);
                let retry = u32::from(all - p.tries_left.min(all)) + 1;
                let wait = self.probe_wait(p.peer.id, retry);
                if let Some(e) = self.probes.find_mut(p.peer.id) {
                    e.tries_left -= 1;
                    e.deadline = self.now + wait;
                    e.resent = true;
                }
                let (to, nonce, want_leaf_set) = (p.peer.addr, p.nonce, p.want_leaf_set);
                self.push_out(Out::Probe {
                    to,
                    nonce,
                    want_leaf_set,
                });
                continue;
            }
            self.probes.remove(p.peer.id);
            if p.heard {
                // It spoke meanwhile, but only an answer proves it alive now:
                // ask once more, with a new nonce.
                self.probe(p.peer, p.purpose, p.want_leaf_set);
                continue;
            }
            let member = self.routing.leaf_set().contains(p.peer.id);
            if p.purpose == Purpose::Rtt && member {
                // One lost measurement is no verdict on a member: suspect it.
                self.suspect(p.peer);
            } else if p.purpose == Purpose::Suspect || member {
                self.declare_failed(p.peer);
            } else {
                // A candidate that never answered: not worth a table slot.
                self.routing.table_mut().remove(p.peer.id);
            }
            self.probe_resolved();
        }
    }

    // ----- failures and repair -----

    /// `peer` did not answer its probes: drop it everywhere, tell the leaf
    /// set, and repair the side it left (eager repair, Pastry'01 §2.4).
    pub(super) fn declare_failed(&mut self, peer: Peer) {
        self.stats.failures += 1;
        let (was_left, was_right) = self.forget(peer);
        if was_left || was_right {
            let window = (self.config.lease + self.config.probe_cycle()) * 2;
            let alarm = self.config.maintenance_period;
            self.graveyard.bury(peer, self.now, window, alarm);
            let members = self.routing.neighbor_set(NODE_SET_CAPACITY);
            for m in &members {
                self.push_out(Out::LeafSet {
                    to: m.addr,
                    want_reply: false,
                });
            }
            self.repair_sides(was_left, was_right);
        }
    }

    /// Asks members of each side that lost one for their leaf sets: the
    /// farthest (Pastry'01 §2.4: its set reaches past ours) and the nearest
    /// (its set covers the next L/2 positions on that side, which matters
    /// when the side was refilled with far nodes while it had a hole).
    fn repair_sides(&mut self, left: bool, right: bool) {
        let ls = self.routing.leaf_set();
        let ask: [Option<Peer>; 4] = [
            ls.farthest_left().copied().filter(|_| left),
            ls.left().first().copied().filter(|_| left),
            ls.farthest_right().copied().filter(|_| right),
            ls.right().first().copied().filter(|_| right),
        ];
        for p in ask.into_iter().flatten() {
            self.probe(p, Purpose::LeafCandidate, true);
        }
    }

    /// Removes `peer` from the routing state, and moves messages waiting on
    /// it to their reroute. Returns whether it was on the left and on the
    /// right side of the leaf set.
    pub(super) fn forget(&mut self, peer: Peer) -> (bool, bool) {
        let ls = self.routing.leaf_set();
        let sides = (
            ls.left().iter().any(|p| p.id == peer.id),
            ls.right().iter().any(|p| p.id == peer.id),
        );
        let was_member = self.routing.leaf_set_mut().remove(peer.id);
        self.routing.table_mut().remove(peer.id);
        self.probes.remove(peer.id);
        if was_member {
            self.push_event(Ev::Update {
                peer,
                joined: false,
            });
            self.refresh_right_watch();
        }
        let now = self.now;
        let waiting = self
            .slots_where(|s| matches!(s, SlotState::Awaiting { next, .. } if next.id == peer.id));
        for r in waiting {
            if let Some(s) = self.pool.get_mut(r) {
                if let SlotState::Awaiting { deadline, .. } = &mut s.state {
                    *deadline = now;
                }
            }
        }
        sides
    }

    /// A member's leaf set (sent after it declared a failure, or on request).
    pub(super) fn on_leaf_set(&mut self, from: SocketAddr, sender: Peer, m: LeafSetExchange<'_>) {
        self.heard_from(sender);
        self.suspect_missing(sender, &m.leaf_set);
        for q in m.leaf_set.left.iter().chain(m.leaf_set.right.iter()) {
            self.offer_leaf_candidate(q, false);
        }
        if m.want_reply {
            self.push_out(Out::LeafSet {
                to: from,
                want_reply: false,
            });
        }
    }

    /// MSPastry: a member of ours that `sender`'s leaf set should list but
    /// does not may have failed; probe it rather than trust either view.
    fn suspect_missing(&mut self, sender: Peer, view: &LeafSetView<'_>) {
        let half = self.routing.leaf_set().half();
        let (far_left, far_right) = (view.left.iter().last(), view.right.iter().last());
        let full = view.left.len() >= half && view.right.len() >= half;
        let mut missing: Vec<Peer, NODE_SET_CAPACITY> = Vec::new();
        for x in self.routing.leaf_set().members() {
            if x.id == sender.id {
                continue;
            }
            let listed = view
                .left
                .iter()
                .chain(view.right.iter())
                .any(|p| p.id == x.id);
            let in_range = match (far_left, far_right) {
                (Some(l), Some(r)) if full => {
                    sender.id.ccw_distance(x.id) <= sender.id.ccw_distance(l.id)
                        || sender.id.cw_distance(x.id) <= sender.id.cw_distance(r.id)
                }
                _ => true,
            };
            if !in_range || listed {
                continue;
            }
            match self.heard_lately.last(x.id) {
                Some(t) if t >= self.now - self.config.lease => {
                    self.heard_lately.recheck(x.id);
                }
                _ => {
                    let _ = missing.push(*x);
                }
            }
        }
        // A hint, not a verdict: probed like a leaf-set candidate (fewer
        // retries, still routed to meanwhile). Silence still declares a
        // member failed; a live one answers the first try.
        for x in missing {
            self.probe(x, Purpose::LeafCandidate, false);
        }
    }

    /// Hints set aside (see [`HeardLately`]) whose lease ran out: a member
    /// still not heard from since is probed now.
    fn recheck_hints(&mut self) {
        while let Some(k) = self.heard_lately.take_due(self.now, self.config.lease) {
            let member = (self.routing.leaf_set().members())
                .find(|p| HeardLately::<HALF>::is(p.id, k))
                .copied();
            if let Some(x) = member {
                self.probe(x, Purpose::LeafCandidate, false);
            }
        }
    }

    pub(super) fn on_leave(&mut self, sender: Peer, m: Leave<'_>) {
        let (was_left, was_right) = self.forget(sender);
        // Buried like a failed member (without counting towards a mass
        // failure): a datagram it sent before leaving that arrives late
        // must not make it a member again; only an answer to a probe can
        // (found by the sim_faults fuzz target).
        self.graveyard
            .bury(sender, self.now, Duration::ZERO, Duration::ZERO);
        for q in m.leaf_set.left.iter().chain(m.leaf_set.right.iter()) {
            self.offer_leaf_candidate(q, false);
        }
        self.repair_sides(was_left, was_right);
    }

    // ----- timers -----

    pub(super) fn run_timers(&mut self) {
        for t in [
            Timer::Heartbeat,
            Timer::Maintenance,
            Timer::Join,
            Timer::Refine,
        ] {
            let due = self.timers[t as usize].is_some_and(|at| at <= self.now);
            if !due {
                continue;
            }
            self.set_timer(t, None);
            match t {
                Timer::Heartbeat => {
                    // MSPastry: heartbeat the left neighbour, which watches us.
                    if let Some(l) = self.routing.leaf_set().left().first().copied() {
                        self.push_out(Out::Heartbeat { to: l.addr });
                    }
                    // After a mass failure, a member failed within a
                    // maintenance period may be back (a healed partition):
                    // ask it, with its leaf set.
                    let since = self.now - self.config.maintenance_period;
                    if let Some(p) = self.graveyard.next(self.now, since) {
                        self.probe(p, Purpose::Rtt, true);
                    }
                    self.recheck_hints();
                    let next = self.jittered(self.config.heartbeat_period);
                    self.set_timer(t, Some(self.now + next));
                }
                Timer::Maintenance => {
                    self.maintain_table();
                    self.exchange_leaf_set();
                    let next = self.jittered(self.config.maintenance_period);
                    self.set_timer(t, Some(self.now + next));
                }
                Timer::Join => self.join_timed_out(),
                Timer::Refine => {
                    self.refine_table();
                    self.refine_rounds = self.refine_rounds.saturating_sub(1);
                    if self.refine_rounds > 0 {
                        let next = self.now + self.config.probe_timeout;
                        self.set_timer(t, Some(next));
                    }
                }
            }
        }
    }

    /// Proximity refinement after joining (Pastry'01 §2.5, Castro et al.
    /// 2002 §4): a join through a far bootstrap starts with entries near
    /// the bootstrap. Ask the nearest measured entry of each row for that
    /// row: its entries are near it, so likely near us; candidates are
    /// probed and nearer ones replace farther entries. A few rounds, each
    /// starting from the nearer entries the last one found.
    fn refine_table(&mut self) {
        for row in 0..ROWS {
            let nearest = self.routing.table().row(row).and_then(|r| {
                r.iter()
                    .flatten()
                    .filter(|e| e.rtt.is_known())
                    .min_by_key(|e| e.rtt)
                    .map(|e| e.peer.addr)
            });
            if let Some(to) = nearest {
                self.push_out(Out::RowRequest { to, row: row as u8 });
            }
        }
    }

    /// Periodic routing-table maintenance (MSPastry §3.2): ask a random
    /// entry of each row for its row. Rows filled while the overlay was
    /// small fill in as it grows, and entries of dead nodes are found
    /// before a message needs them. An empty row is asked of a leaf-set
    /// member sharing enough digits.
    fn maintain_table(&mut self) {
        for row in 0..ROWS {
            let Some(entries) = self.routing.table().row(row) else {
                break;
            };
            let n = entries.iter().flatten().count();
            let to = if n > 0 {
                let pick = self.rng.below(n as u64) as usize;
                entries.iter().flatten().nth(pick).map(|e| e.peer)
            } else {
                self.member_sharing(row)
            };
            // None: no known node shares this many digits, nor will deeper rows.
            let Some(to) = to else { break };
            self.push_out(Out::RowRequest {
                to: to.addr,
                row: row as u8,
            });
        }
    }

    /// Anti-entropy, once per maintenance period: swap leaf sets with one
    /// member at random. Hints of failure flow only when leaf sets change,
    /// so a member that died unwatched (its ring neighbours never knew it)
    /// would stay in the other members' leaf sets for good; the swap gives
    /// each a view to compare with (found by the sim_faults fuzz target).
    fn exchange_leaf_set(&mut self) {
        let n = self.routing.leaf_set().len();
        if n == 0 {
            return;
        }
        let pick = self.rng.below(n as u64) as usize;
        let to = self.routing.leaf_set().members().nth(pick).map(|p| p.addr);
        if let Some(to) = to {
            self.push_out(Out::LeafSet {
                to,
                want_reply: true,
            });
        }
    }

    /// A leaf-set member sharing at least `digits` leading digits with us:
    /// its row `digits` is valid for our table.
    fn member_sharing(&self, digits: usize) -> Option<Peer> {
        let own = self.own().id;
        self.routing
            .leaf_set()
            .members()
            .find(|p| p.id.shared_prefix_len(own) >= digits)
            .copied()
    }

    pub(super) fn refresh_right_watch(&mut self) {
        let right = self.routing.leaf_set().right().first().map(|p| p.id);
        self.right_watch = match (right, self.right_watch) {
            (Some(id), Some((w, t))) if id == w => Some((w, t)),
            (Some(id), _) => Some((id, self.now)),
            (None, _) => None,
        };
    }

    pub(super) fn right_watch_deadline(&self) -> Option<Instant> {
        if self.phase != Phase::Active {
            return None;
        }
        let (id, t) = self.right_watch?;
        if self.probes.is_suspect(id) {
            return None;
        }
        Some(t + self.config.lease)
    }

    /// The right neighbour has been silent for a lease: probe it.
    pub(super) fn run_right_watch(&mut self) {
        let Some(at) = self.right_watch_deadline() else {
            return;
        };
        if at > self.now {
            return;
        }
        if let Some((id, _)) = self.right_watch {
            if let Some(p) = self.routing.leaf_set().get(id).copied() {
                self.suspect(p);
                // Alive but silent, it heartbeats some other left
                // neighbour: one between us that we do not know, maybe
                // dead and watched by nobody. Our leaf set lets it check
                // (a hint, MSPastry); found by the sim_faults fuzz target.
                self.push_out(Out::LeafSet {
                    to: p.addr,
                    want_reply: false,
                });
            }
            self.right_watch = Some((id, self.now));
        }
    }
}
