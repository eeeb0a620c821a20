//! Reliable routing: every overlay hop is acknowledged (the timeouts and
//! rerouting are in `reroute`, the root's side in `arrival`), duplicates
//! are suppressed at the receiver, the per-hop `forward` upcall runs, and
//! a message the source sends through relays is signed.

use core::net::SocketAddr;
use core::time::Duration;

use super::app::{ForwardHop, Forwarder, Verdict};
use super::event::CommandError;
use super::origin::Signable;
use super::outbox::Out;
use super::pool::{Carried, Signed, SlotRef, SlotState};
use super::{Node, Payload, Phase};
use crate::id::Id;
use crate::peer::Peer;
use crate::routing::NextHop;
use crate::routing_table::Rtt;
use crate::time::Instant;
use crate::wire::{AppId, Routed};

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// KBR `route(key, msg, hint)`: sends `payload` for application `app`
    /// towards the node numerically closest to `key`, first through `hint`
    /// if given. Returns the message's id; the outcome is a
    /// [`super::Event::Deliver`] at the root, or a
    /// [`super::Event::RouteFailed`] here.
    pub fn route(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        payload: &[u8],
        hint: Option<Peer>,
    ) -> Result<u64, CommandError> {
        let r = self.own_slot(now, payload, |n| n.outbox.is_full())?;
        let own = self.own();
        let msg_id = self.random_u64();
        let per_hop = self.policy.get(app).per_hop;
        if let Some(s) = self.pool.get_mut(r) {
            s.msg_id = msg_id;
            s.key = key;
            s.app = app;
            s.per_hop = per_hop;
            s.hops = 0;
            s.authenticated = true;
        }
        self.seen.originated(own.id, msg_id);
        self.dispatch(r, hint);
        Ok(msg_id)
    }

    /// What every command that sends a message of ours checks, in order
    /// (active, the payload within bounds, room in the queue `full` names,
    /// a free slot), then the slot, holding `payload`.
    pub(super) fn own_slot(
        &mut self,
        now: Instant,
        payload: &[u8],
        full: impl Fn(&Self) -> bool,
    ) -> Result<SlotRef, CommandError> {
        self.advance(now);
        if self.phase != Phase::Active {
            return Err(CommandError::NotActive);
        }
        let max = self.max_payload();
        if payload.len() > max {
            return Err(CommandError::PayloadTooLarge { max });
        }
        if full(self) {
            return Err(CommandError::QueueFull);
        }
        let own = self.own();
        self.pool
            .alloc(Carried::Routed, own, payload, None)
            .ok_or(CommandError::PoolFull)
    }

    /// A routed message from the previous hop `sender`.
    pub(super) fn on_routed(&mut self, from: SocketAddr, sender: Peer, app: AppId, m: Routed<'_>) {
        self.heard_one_way(sender);
        if m.payload.len() > super::pool::MAX_PAYLOAD {
            self.stats.drops.oversized += 1;
            return;
        }
        let Some(r) = self.accept_hop(
            from,
            sender.id,
            Carried::Routed,
            m.source,
            m.msg_id,
            (m.handoff, m.attempt),
            m.payload,
            m.signature,
        ) else {
            return;
        };
        if let Some(s) = self.pool.get_mut(r) {
            s.key = m.key;
            s.app = app;
            s.per_hop = m.per_hop;
            s.handoff = m.handoff;
            s.receipt = m.receipt;
            s.attempt = m.attempt;
            s.hops = m.hops.saturating_add(1);
            // Straight from its source, whose session verified it: the
            // source is who it claims (a relay's word would not do).
            s.authenticated = self.config.verify_peers && m.hops == 0 && sender.id == m.source.id;
        }
        if !m.handoff {
            self.offer_row_to_previous_hop(from, sender, m.key);
        }
        self.dispatch(r, None);
    }

    /// Takes a message from the previous hop into a slot. A duplicate is
    /// acked again and dropped; with no free slot (or no room for its
    /// payload) it is not acked, so the sender's timeout reroutes it;
    /// otherwise it is recorded and acked. `copy` is the message's
    /// hand-off flag and its source's attempt.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn accept_hop(
        &mut self,
        from: SocketAddr,
        sender: Id,
        carried: Carried,
        source: Peer,
        msg_id: u64,
        copy: (bool, u8),
        payload: &[u8],
        signature: Option<&Signed>,
    ) -> Option<SlotRef> {
        // A slot first: with none free the message is not recorded, so
        // its retransmission (or reroute) is not taken for a duplicate.
        let Some(r) = self.pool.alloc(carried, source, payload, signature) else {
            self.stats.drops.queue_full += 1;
            return None;
        };
        if self.seen.check_and_record(source.id, msg_id, copy, sender) {
            // A retransmission that crossed our ack: ack again, handle once.
            self.pool.free(r);
            self.push_out(Out::Ack { to: from, msg_id });
            self.stats.drops.duplicate += 1;
            return None;
        }
        self.push_out(Out::Ack { to: from, msg_id });
        if let Some(s) = self.pool.get_mut(r) {
            s.msg_id = msg_id;
        }
        Some(r)
    }

    /// Lazy table repair (Pastry'01 §2.4): the previous hop shares as many
    /// digits with the key as we do, so it had no entry sharing one more;
    /// if we have one, send it that row.
    fn offer_row_to_previous_hop(&mut self, from: SocketAddr, sender: Peer, key: Id) {
        let p = key.shared_prefix_len(sender.id);
        if p >= ROWS || key.shared_prefix_len(self.own().id) != p {
            return;
        }
        let has = self
            .routing
            .table()
            .at(p, usize::from(key.digit(p)))
            .is_some_and(|e| e.peer.id != sender.id);
        if has {
            self.push_out(Out::RowReply {
                to: from,
                row: p as u8,
            });
        }
    }

    pub(super) fn on_ack(&mut self, sender: Peer, msg_id: u64) {
        let found = self.pool.in_use().find_map(|(r, s)| match s.state {
            SlotState::Awaiting { next, sent_at, .. }
                if s.msg_id == msg_id && next.id == sender.id =>
            {
                Some((r, sent_at, s.attempts, s.retransmitted))
            }
            _ => None,
        });
        let Some((r, sent_at, attempts, retransmitted)) = found else {
            self.stats.drops.unsolicited += 1;
            return;
        };
        self.heard_one_way(sender);
        if attempts == 1 && !retransmitted {
            // Karn: a message sent once gives an unambiguous sample.
            let rtt = self.now.saturating_duration_since(sent_at);
            self.rtt.sample(rtt);
            self.routing
                .table_mut()
                .consider(sender, Rtt::from_duration(rtt));
        }
        self.hop_acked(r);
    }

    /// Decides what happens to the message in `r` at this node.
    pub(super) fn dispatch(&mut self, r: SlotRef, hint: Option<Peer>) {
        let Some(s) = self.pool.get(r) else { return };
        if matches!(s.carried, Carried::Query { .. }) {
            self.dispatch_query(r);
            return;
        }
        if s.handoff {
            self.serve(r);
            return;
        }
        let chosen = self.choose_next_hop(r, hint);
        #[cfg(feature = "adversary")]
        if self.misbehave(r, chosen) {
            return;
        }
        let closer_suspected = chosen == NextHop::Local && self.closer_node_suspected(r);
        let mut next = chosen;
        let Some(s) = self.pool.get(r) else {
            return;
        };
        let policy = self.policy.get(s.app);
        if s.carried == Carried::Routed && s.per_hop && policy.allow {
            // The upcall edits a copy: the pool keeps payloads packed.
            let mut payload = Payload::new();
            // Fits: a slot's payload is at most MAX_PAYLOAD.
            let _ = payload.extend_from_slice(self.pool.payload(r));
            let hop = ForwardHop {
                key: s.key,
                app: s.app,
                source: s.source,
                hops: s.hops,
                next_hop: next,
                closer_suspected,
                payload: &mut payload,
            };
            let verdict = self.forwarder.forward(hop);
            if payload.len() > self.max_payload() {
                // The upcall grew the payload past what a datagram carries.
                self.stats.drops.oversized += 1;
                self.fail_route(r);
                return;
            }
            if !self.pool.set_payload(r, &payload) {
                // Grown past the room left in the store.
                self.stats.drops.queue_full += 1;
                self.fail_route(r);
                return;
            }
            match verdict {
                Verdict::Continue => {}
                Verdict::Stop => {
                    self.pool.free(r);
                    return;
                }
                Verdict::Redirect(p) if p.id != self.own().id => next = NextHop::Forward(p),
                Verdict::Redirect(_) => next = NextHop::Local,
                // Not the root: no MSPastry hold, and no replica-set
                // hand-off; the application asked for it here. Only an
                // active node takes a message over: a joining one cannot
                // send it on (it routes nothing of its own yet).
                Verdict::Deliver if self.phase == Phase::Active => {
                    self.deliver(r);
                    return;
                }
                Verdict::Deliver => {}
            }
        }
        // Asked once per dispatch unless the upcall redirected here.
        let held = if next == chosen {
            closer_suspected
        } else {
            next == NextHop::Local && self.closer_node_suspected(r)
        };
        match next {
            NextHop::Local if held => self.hold(r),
            NextHop::Local => self.arrive(r),
            NextHop::Forward(p) => self.send_slot(r, p),
        }
    }

    /// Whether a node closer to the key than us is excluded only because it
    /// is suspected or timed out: then we are not the root yet.
    fn closer_node_suspected(&self, r: SlotRef) -> bool {
        let Some(s) = self.pool.get(r) else {
            return false;
        };
        let joiner = s.carried.joiner();
        self.routing.next_hop(s.key, |p| Some(p.id) == joiner) != NextHop::Local
    }

    /// MSPastry consistency: never deliver while a closer node is merely
    /// suspected. Hold the message until its probe resolves (then it is
    /// routed again, see `redispatch_buffered`), for at most one probe
    /// cycle; if the suspect is still neither alive nor failed then, this
    /// node delivers as the closest live node it knows.
    fn hold(&mut self, r: SlotRef) {
        let now = self.now;
        let deadline = now + self.config.probe_cycle() + self.config.probe_timeout;
        let Some(s) = self.pool.get_mut(r) else {
            return;
        };
        if s.held {
            match s.state {
                // Re-dispatched early (another probe resolved): keep waiting.
                SlotState::Buffered { deadline } if deadline > now => {}
                // The hold ran out and the closer node is still suspected
                // but not yet declared failed: we are the best live root.
                _ => self.arrive(r),
            }
            return;
        }
        // Each hold ends in a send (which counts towards `max_reroutes`)
        // or a delivery, so holds cannot repeat without bound.
        s.held = true;
        s.tried.clear();
        s.state = SlotState::Buffered { deadline };
    }

    pub(super) fn choose_next_hop(&self, r: SlotRef, hint: Option<Peer>) -> NextHop {
        let Some(s) = self.pool.get(r) else {
            return NextHop::Local;
        };
        let joiner = s.carried.joiner();
        let usable = |p: &Peer| {
            p.id != self.own().id
                && !s.tried.contains(&p.id)
                && !self.probes.is_suspect(p.id)
                && Some(p.id) != joiner
        };
        if let Some(h) = hint.filter(|h| usable(h)) {
            return NextHop::Forward(h);
        }
        // A reroute: the entry tried is silent. Its slot's spare still
        // gains a digit. Past it, the table's other candidates for this
        // key are as old; a leaf-set member closer to the key is watched,
        // so likely alive, and routes on with its own, independent table:
        // one hop more, but a live one (MSPastry §3.3 reroutes over
        // redundant paths). The distance to the key still shrinks, so
        // this cannot loop.
        if !s.tried.is_empty() && !self.routing.leaf_set().covers(s.key) {
            if let Some(e) = self
                .routing
                .table()
                .next_hop_spare(s.key)
                .filter(|e| usable(&e.peer))
            {
                return NextHop::Forward(e.peer);
            }
            let own_prefix = s.key.shared_prefix_len(self.own().id);
            let member = self.routing.leaf_set().closest(s.key, |p| {
                !usable(p) || s.key.shared_prefix_len(p.id) < own_prefix
            });
            if let Some(p) = member {
                return NextHop::Forward(*p);
            }
        }
        self.routing.next_hop(s.key, |p| !usable(p))
    }

    pub(super) fn send_slot(&mut self, r: SlotRef, next: Peer) {
        if !self.sign_for(r, next) {
            self.stats.drops.queue_full += 1;
            self.fail_route(r);
            return;
        }
        let rto = self.rto_for(next.id);
        let now = self.now;
        let receipt = self.wants_receipt(r, next);
        let Some(s) = self.pool.get_mut(r) else {
            return;
        };
        if let Some(wants) = receipt {
            s.receipt = wants;
        }
        s.state = SlotState::Awaiting {
            next,
            sent_at: now,
            deadline: now + rto,
        };
        s.attempts = s.attempts.saturating_add(1);
        s.retransmitted = false;
        s.held = false;
        self.stats.forwarded += 1;
        // A full outbox loses this send; the hop's timeout recovers it.
        self.push_out(Out::Routed(r));
    }

    /// Signs a message of this node's before it goes to a relay (`next`
    /// is not the node whose id is the key): the root will not be its
    /// neighbour, and must still know who sent it ([`super::origin`]).
    /// End-node applications' messages only.
    /// `false` if the pool has no room for the signature.
    // Not inlined: `send_slot` is, at each of its callers, and one copy of
    // the signing path keeps the embedded build's flash (BENCHMARKS.md).
    #[inline(never)]
    fn sign_for(&mut self, r: SlotRef, next: Peer) -> bool {
        let Some(s) = self.pool.get(r) else {
            return true;
        };
        let own = self.routing.own();
        // A per-hop application's message is not signed: each node on
        // its path may rewrite it (the DHT's gets are), which would void
        // the signature at the first hop, so its cost buys nothing.
        let needed = self.config.verify_peers
            && s.carried == Carried::Routed
            && !s.per_hop
            && s.source.id == own.id
            && next.id != s.key
            && self.pool.signature(r).is_none();
        if !needed {
            return true;
        }
        let signable = Signable {
            app: s.app,
            key: s.key,
            msg_id: s.msg_id,
            source: s.source,
            payload: self.pool.payload(r),
        };
        match signable.sign(&self.identity().keypair) {
            Some(sig) => self.pool.sign(r, &sig),
            None => false,
        }
    }

    /// RFC 6298: RTO = SRTT + 4·RTTVAR from the node-wide smoothed
    /// estimator; a next hop measured as farther than average raises the
    /// base to its own RTT. Bounded by the configured limits.
    pub(super) fn rto_for(&self, id: Id) -> Duration {
        let measured = self
            .routing
            .table()
            .get(id)
            .and_then(|e| e.rtt.as_duration());
        let base = match (measured, self.rtt.srtt) {
            (None, None) => return self.config.initial_rto,
            (Some(m), Some(s)) => m.max(s),
            (m, s) => m.or(s).unwrap_or_default(),
        };
        (base + self.rtt.rttvar * 4).clamp(self.config.min_rto, self.config.max_rto)
    }
}
