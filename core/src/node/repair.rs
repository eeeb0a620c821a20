//! Repair: candidates for the leaf set and the routing table (probed
//! before they enter), eager leaf-set repair from members' leaf sets,
//! lazy routing-table repair, proximity refinement and periodic
//! maintenance (Pastry'01 §2.4, MSPastry §3).

use core::net::SocketAddr;

use heapless::Vec;

use super::app::Forwarder;
use super::heard::HeardLately;
use super::measured::Lately;
use super::outbox::Out;
use super::probes::{Purpose, Tell};
use super::{Node, Timer};
use crate::id::{Distance, Id};
use crate::leaf_set::NODE_SET_CAPACITY;
use crate::peer::Peer;
use crate::routing_table::Rtt;
use crate::wire::{LeafSetExchange, LeafSetView};

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    // ----- candidates -----

    /// A node learned second-hand that may belong in the leaf set: probe it
    /// first (it may be dead); it enters when it answers.
    pub(super) fn offer_leaf_candidate(&mut self, p: Peer, want_leaf_set: bool) {
        if !self.worth_probing(p.id) || !self.routing.leaf_set().admits(p.id) {
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

    /// The members of a leaf set another node sent, offered as candidates.
    /// Only those that would be among a side's L/2 nearest, counting the
    /// members and this leaf set's other candidates, are probed. A side
    /// one short used to probe every candidate the repair's leaf sets
    /// offered, and most that answered found the place taken (#32: 0.17
    /// messages per node per second at 10-minute sessions). The choice is
    /// this leaf set's alone: counting the candidates still being probed
    /// instead left live nodes out for good after mass failures (dead
    /// ones held the places), and would let a node listing fake ids block
    /// them. One that proves dead asks for more (`gave_up_candidate`).
    pub(super) fn offer_leaf_set(&mut self, view: &LeafSetView<'_>, want_leaf_set: bool) {
        // The entries that count, by their distances from us (counter-
        // clockwise, clockwise), decoded once: a datagram holds fewer
        // than 48.
        let own = self.own().id;
        let mut offered: Vec<(u64, u64), 48> = Vec::new();
        let mut counted = 0u64;
        for (i, q) in view.left.iter().chain(view.right.iter()).enumerate() {
            if !self.routing.leaf_set().contains(q.id) && self.worth_probing(q.id) {
                let d = (
                    own.ccw_distance(q.id).high_64(),
                    own.cw_distance(q.id).high_64(),
                );
                counted |= u64::from(offered.push(d).is_ok()) << (i % 64);
            }
        }
        for (i, q) in view.left.iter().chain(view.right.iter()).enumerate() {
            if counted >> (i % 64) & 1 == 0 {
                // Members (on the other side too, on a small ring) and
                // those not worth a probe are offered singly.
                self.offer_leaf_candidate(q, want_leaf_set);
            } else if !self.routing.leaf_set().admits(q.id) {
                // No place on either side.
            } else if self.among_nearest(q.id, &offered) {
                self.probe(q, Purpose::LeafCandidate, want_leaf_set);
            } else {
                // Passed over. Still measured for the routing table when
                // it may be nearer than an entry: those measurements kept
                // routes short (without them RDP rose 6 %; a candidate
                // shares many digits with us, and the deep rows' entries
                // are few).
                self.passed_over = true;
                self.measure_for_table(q);
            }
        }
    }

    /// Whether `id` would be among the L/2 nearest on a side, counting
    /// the members and the `offered` (by distance, as `offer_leaf_set`
    /// lists them; `id` is among them).
    fn among_nearest(&self, id: Id, offered: &[(u64, u64)]) -> bool {
        let ls = self.routing.leaf_set();
        let (own, half) = (ls.own_id(), ls.half());
        let nearer = |side: &[Peer], dist: fn(Id, Id) -> Distance, key: fn(&(u64, u64)) -> u64| {
            let d = dist(own, id);
            let members = side.iter().filter(|m| dist(own, m.id) < d).count();
            members + offered.iter().filter(|o| key(o) < d.high_64()).count()
        };
        nearer(ls.left(), Id::ccw_distance, |o| o.0) < half
            || nearer(ls.right(), Id::cw_distance, |o| o.1) < half
    }

    /// Whether a second-hand `id` is worth a probe: not us, not a member
    /// we declared failed lately (others list it until they learn; the
    /// graveyard's own re-probes cover a healed partition), not found
    /// silent lately (a node back from the dead speaks to us itself).
    fn worth_probing(&self, id: Id) -> bool {
        id != self.own().id
            && !self.graveyard.contains(id)
            && self.measured.lately(id, self.now, self.silence_window()) != Some(Lately::Silent)
    }

    /// A leaf-set candidate never answered. If it held a place others
    /// were passed over for, or its side is short, the candidates are
    /// gone with the leaf sets that offered them: ask the farthest member
    /// of that side for its leaf set again (Pastry'01 §2.4: its set
    /// reaches past ours).
    pub(super) fn gave_up_candidate(&mut self, id: Id) {
        if !self.routing.leaf_set().admits(id) {
            return;
        }
        let passed_over = core::mem::take(&mut self.passed_over);
        let ls = self.routing.leaf_set();
        let (own, half) = (ls.own_id(), ls.half());
        let fits = |side: &[Peer], dist: fn(Id, Id) -> Distance| {
            side.len() < half
                || (passed_over && side.last().is_some_and(|f| dist(own, id) < dist(own, f.id)))
        };
        let ask = [
            ls.farthest_left()
                .filter(|_| fits(ls.left(), Id::ccw_distance)),
            ls.farthest_right()
                .filter(|_| fits(ls.right(), Id::cw_distance)),
        ]
        .map(|p| p.copied());
        for p in ask.into_iter().flatten() {
            self.probe(p, Purpose::LeafCandidate, true);
        }
    }

    /// How long a candidate's silence stands against second-hand news of
    /// it: as long as a failed member is remembered (two leases and probe
    /// cycles), time for those who list it to find it failed too.
    fn silence_window(&self) -> u32 {
        let w = (self.config.lease + self.config.probe_cycle()) * 2;
        u32::try_from(w.as_secs()).unwrap_or(u32::MAX)
    }

    /// A node learned second-hand for the routing table: an empty slot
    /// takes it at once (unmeasured) if it is verified already; either
    /// way it is probed for its RTT, while probe capacity allows, so a
    /// nearer node can win its slot, and the probe's answer (which needs
    /// a handshake first) brings in one that was not verified.
    pub(super) fn offer_table_candidate(&mut self, p: Peer) {
        if p.id == self.own().id {
            return;
        }
        self.offer_leaf_candidate(p, false);
        self.measure_for_table(p);
    }

    /// The routing table's half of [`Node::offer_table_candidate`].
    fn measure_for_table(&mut self, p: Peer) {
        let Some((row, col)) = self.routing.table().slot(p.id) else {
            return;
        };
        let entry = self.routing.table().at(row, col).copied();
        if entry.is_some_and(|e| e.peer.id == p.id) {
            return;
        }
        let admissible = !self.config.verify_peers || self.guard.is_verified(p);
        // Measured lately and no nearer than the entry, or silent: the
        // verdict stands without another probe; the measurement may still
        // make it the slot's spare.
        match self.measured.lately(p.id, self.now, self.verdict_window()) {
            Some(Lately::Silent) => return,
            Some(Lately::Answered(rtt)) if entry.is_some_and(|e| rtt >= e.rtt) => {
                if admissible {
                    self.routing.table_mut().consider(p, rtt);
                }
                return;
            }
            _ => {}
        }
        if entry.is_none() && admissible {
            self.routing.table_mut().consider(p, Rtt::UNKNOWN);
        }
        // Measurements take at most half the probe table, so leaf-set
        // probes (which keep leaf sets symmetric) always find room.
        if self.probes.len() < QUEUE / 2 {
            self.probe(p, Purpose::Rtt, false);
        }
    }

    /// How long a measurement of a candidate stands: a maintenance
    /// period, after which rows are asked for again anyway.
    fn verdict_window(&self) -> u32 {
        u32::try_from(self.config.maintenance_period.as_secs()).unwrap_or(u32::MAX)
    }

    // ----- leaf-set repair -----

    /// A member's leaf set (sent after it declared a failure, or on request).
    pub(super) fn on_leaf_set(&mut self, from: SocketAddr, sender: Peer, m: LeafSetExchange<'_>) {
        self.heard_from(sender);
        self.suspect_missing(sender, &m.leaf_set, m.announces);
        self.offer_leaf_set(&m.leaf_set, false);
        if m.want_reply {
            self.push_out(Out::LeafSet {
                to: from,
                want_reply: false,
                announces: false,
            });
        }
    }

    /// MSPastry: a member of ours that `sender`'s leaf set should list but
    /// does not may have failed; probe it rather than trust either view.
    fn suspect_missing(&mut self, sender: Peer, view: &LeafSetView<'_>, announces: bool) {
        let half = self.routing.leaf_set().half();
        let (far_left, far_right) = (view.left.iter().last(), view.right.iter().last());
        // A side shorter than half a leaf set bounds nothing (the sender
        // may know the whole ring), unless the leaf set announces a
        // failure: its side is one short for the member just dropped.
        let full = announces || (view.left.len() >= half && view.right.len() >= half);
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
            // An announcement is a member's verdict after a probe cycle,
            // not a disagreement of views: probed at once.
            match self.heard_lately.last(x.id) {
                Some(t) if !announces && t >= self.now - self.config.lease => {
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
        for x in &missing {
            let tell = if announces {
                self.beyond(sender, view, &missing, x.id)
            } else {
                Tell::EVERYONE
            };
            self.probe(*x, Purpose::LeafCandidate, false);
            if let Some(p) = self.probes.find_mut(x.id) {
                // Any announcement's list is known to be told.
                if p.tell.is_everyone() {
                    p.tell = tell;
                }
                // A member found it silent through a probe cycle of its
                // own: two more tries of ours settle it (a suspicion under
                // way would otherwise run its six, while the root holds
                // messages for it; one more declared live members failed
                // under loss often enough to move roots, and the hour of
                // churn scenario saw a lookup delivered twice).
                if announces {
                    p.tries_left = p.tries_left.min(2);
                }
            }
        }
    }

    /// Whom to tell if member `x`, left out of `sender`'s announcing leaf
    /// set `view`, proves failed. The announcement reached the nodes it
    /// lists, which cover our side towards `sender`; on the other side our
    /// members it does not list, and that hold `x` (no more than a half
    /// leaf set of places away from it), have not heard. In a ring whose
    /// leaf sets agree the first announcer reaches all of a failed node's
    /// members, and nobody else tells anybody.
    fn beyond(&self, sender: Peer, view: &LeafSetView<'_>, missing: &[Peer], x: Id) -> Tell {
        const { assert!(HALF < 32, "a side's members fit a u32 bit set") };
        let ls = self.routing.leaf_set();
        let at = |side: &[Peer], id: Id| side.iter().position(|p| p.id == id);
        let right = match (at(ls.left(), sender.id), at(ls.right(), sender.id)) {
            (Some(_), None) => true,
            (None, Some(_)) => false,
            // Not a member, or on both sides of a small ring.
            _ => return Tell::EVERYONE,
        };
        let (far, near) = if right {
            (ls.right(), ls.left())
        } else {
            (ls.left(), ls.right())
        };
        // Where x is: an index on the far side, or on the near side.
        let (px, x_far) = match (at(far, x), at(near, x)) {
            (Some(px), _) => (px, true),
            (None, Some(px)) => (px, false),
            (None, None) => return Tell::EVERYONE,
        };
        // Bit i: far member i is listed in the view; is counted as a place
        // (members within the view's reach that it also left out are not:
        // likely failed too, and already dropped by the sender; found with
        // a fifth of the nodes failing at once). Near side: counted.
        let listed = |p: &Peer| {
            view.left
                .iter()
                .chain(view.right.iter())
                .any(|q| q.id == p.id)
        };
        let gone = |p: &Peer| p.id == x || missing.iter().any(|m| m.id == p.id);
        let (mut in_view, mut counted_far, mut counted_near) = (0u32, 0u32, 0u32);
        for (i, p) in far.iter().enumerate() {
            in_view |= u32::from(listed(p)) << i;
        }
        // Far members up to the last it lists are within its reach.
        let reach = 32 - in_view.leading_zeros();
        for (i, p) in far.iter().enumerate() {
            let out = (gone(p) && (i as u32) < reach) || p.id == x;
            counted_far |= u32::from(!out) << i;
        }
        for (i, p) in near.iter().enumerate() {
            counted_near |= u32::from(!gone(p)) << i;
        }
        let below = |mask: u32, i: usize| (mask & ((1u32 << i) - 1)).count_ones() as usize;
        // The far member at index q holds x if they are at most a half
        // leaf set of places apart (through us when x is on the near side).
        let holds = |q: usize| {
            let places = match (x_far, q < px) {
                (true, true) => below(counted_far, px) - below(counted_far, q),
                (true, false) => below(counted_far, q) - below(counted_far, px) + 1,
                (false, _) => below(counted_near, px) + below(counted_far, q) + 2,
            };
            places <= ls.half()
        };
        // Told by the announcement: what it lists. (Members it left out
        // are being probed, which tells them nothing.)
        let mut targets =
            (0..far.len()).filter(|&q| far[q].id != x && holds(q) && in_view >> q & 1 == 0);
        let Some(first) = targets.next() else {
            return Tell::beyond(right, self.own().id, 0);
        };
        let last = targets.next_back().unwrap_or(first);
        let past = if first == 0 {
            self.own().id
        } else {
            far[first - 1].id
        };
        Tell::beyond(right, past, last + 1 - first)
    }

    /// Hints set aside (see [`HeardLately`]) whose lease ran out: a member
    /// still not heard from since is probed now.
    fn recheck_hints(&mut self) {
        while let Some(k) = self.heard_lately.take_due(self.now, self.config.lease) {
            self.recheck_now(k);
        }
    }

    /// Probes the member keyed `k` (see [`HeardLately`]) whose hint was set
    /// aside, if it is still a member.
    pub(super) fn recheck_now(&mut self, k: u64) {
        let member = (self.routing.leaf_set().members())
            .find(|p| HeardLately::<HALF>::is(p.id, k))
            .copied();
        if let Some(x) = member {
            self.probe(x, Purpose::LeafCandidate, false);
        }
    }

    // ----- timers -----

    pub(super) fn run_timers(&mut self) {
        for t in [
            Timer::Heartbeat,
            Timer::Maintenance,
            Timer::Join,
            Timer::Refine,
            Timer::Fill,
        ] {
            let due = self.timers[t as usize] <= self.now;
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
                    #[cfg(feature = "secure-routing")]
                    self.refill_if_grown();
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
                #[cfg(feature = "secure-routing")]
                Timer::Fill => self.fill_constrained(),
                #[cfg(not(feature = "secure-routing"))]
                Timer::Fill => {}
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
                announces: false,
            });
        }
    }

    /// A leaf-set member sharing at least `digits` leading digits with us:
    /// its row `digits` is valid for our table.
    pub(super) fn member_sharing(&self, digits: usize) -> Option<Peer> {
        let own = self.own().id;
        self.routing
            .leaf_set()
            .members()
            .find(|p| p.id.shared_prefix_len(own) >= digits)
            .copied()
    }
}
