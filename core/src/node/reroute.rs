//! When a hop fails: the RFC 6298 timeout of an unacknowledged hop sends
//! the message through the next best node not tried or suspected and
//! probes the silent one; a message no node can take fails back to its
//! source. Also the messages a node holds while it joins or leaves.

use super::app::Forwarder;
use super::event::Ev;
use super::outbox::Out;
use super::pool::{Carried, SlotRef, SlotState};
use super::{Node, Phase};
use crate::peer::Peer;
use crate::routing::NextHop;

/// What a slot whose deadline passed waited for.
enum Due {
    /// The ack of its hop to this node.
    Hop(Peer),
    /// The end of a hold (or of the join it was buffered for).
    Hold,
    /// A receipt from the node that delivers it.
    Receipt,
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
    pub(super) fn fail_route(&mut self, r: SlotRef) {
        let Some(s) = self.pool.get(r) else { return };

        self.stats.route_failures += 1;
        if s.carried == Carried::Routed {
            let (msg_id, key, app) = (s.msg_id, s.key, s.app);
            if s.source.id == self.own().id {
                self.push_event(Ev::RouteFailed { msg_id, key, app });
            } else {
                // The source learns at once rather than by its own silence.
                let to = s.source.addr;
                self.push_out(Out::RouteFailed {
                    to,
                    msg_id,
                    key,
                    app,
                });
            }
        }
        self.pool.free(r);
    }

    /// Hops that timed out: suspect the silent node and reroute; held
    /// messages whose hold expired: route them on without us.
    pub(super) fn run_slot_timeouts(&mut self) {
        let now = self.now;
        // Each pass handles one expired slot; a slot moves on or is freed,
        // so this ends within 2·POOL passes.
        for _ in 0..2 * POOL + 1 {
            let due = self.pool.in_use().find_map(|(r, s)| match s.state {
                SlotState::Awaiting { next, deadline, .. } if deadline <= now => {
                    Some((r, Due::Hop(next)))
                }
                SlotState::Buffered { deadline } if deadline <= now => Some((r, Due::Hold)),
                SlotState::Custody { deadline } if deadline <= now => Some((r, Due::Receipt)),
                _ => None,
            });
            let Some((r, due)) = due else { return };
            match due {
                Due::Hop(next) => self.hop_timed_out(r, next),
                Due::Hold => self.hold_expired(r),
                Due::Receipt => self.receipt_timed_out(r),
            }
        }
    }

    /// A hop's ack did not come. A leaf-set member gets one retransmission
    /// with the timeout doubled (RFC 6298 §5.5): it is watched, so a lost
    /// datagram is likelier than its death, and it may be the key's root.
    /// A routing-table entry is not watched, and under churn its silence
    /// is likelier a departure than a loss: it is suspected (probed) and
    /// the message rerouted around it at once, as a leaf-set member is
    /// after its second silence (MSPastry §3.3).
    fn hop_timed_out(&mut self, r: SlotRef, next: Peer) {
        let now = self.now;
        let rto = self.rto_for(next.id);
        let connecting = self.guard.connecting(next.addr);
        let watched = self.routing.leaf_set().contains(next.id);
        let Some(s) = self.pool.get_mut(r) else {
            return;
        };
        if connecting {
            // The hop waits for a handshake with the next node, which has
            // a timeout of its own: no verdict until that ends.
            s.state = SlotState::Awaiting {
                next,
                sent_at: now,
                deadline: now + rto,
            };
            return;
        }
        if !s.retransmitted && watched {
            s.retransmitted = true;
            s.state = SlotState::Awaiting {
                next,
                sent_at: now,
                deadline: now + rto * 2,
            };
            self.push_out(Out::Routed(r));
            return;
        }
        #[cfg(feature = "secure-routing")]
        let constrained = self.constrained.slot_holds(next.id);
        #[cfg(not(feature = "secure-routing"))]
        let constrained = false;
        if self.routing.holds(next.id) || constrained {
            self.suspect(next);
        }
        let max = self.config.max_reroutes;
        let Some(s) = self.pool.get_mut(r) else {
            return;
        };
        let _ = s.tried.push(next.id);
        if s.attempts > max {
            self.fail_route(r);
            return;
        }
        self.stats.reroutes += 1;
        self.dispatch(r, None);
    }

    fn hold_expired(&mut self, r: SlotRef) {
        if self.phase == Phase::Active {
            self.dispatch(r, None);
            return;
        }
        // Still joining: others route this key to us, so a node we passed
        // it to would send it straight back. Keep it until we are active.
        self.buffer_until_active(r);
    }

    /// Holds a message while this node joins: routed on once it is active
    /// (`redispatch_buffered`), reported failed if the join fails
    /// (`fail_buffered`), looked at again every join timeout meanwhile.
    pub(super) fn buffer_until_active(&mut self, r: SlotRef) {
        let deadline = self.now + self.config.join_timeout;
        if let Some(s) = self.pool.get_mut(r) {
            s.state = SlotState::Buffered { deadline };
        }
    }

    /// A graceful leave: messages still here, held or awaiting an ack
    /// this node will no longer hear, go to the best other node for their
    /// key (best effort; duplicates are suppressed further on).
    pub(super) fn hand_on_before_leaving(&mut self) {
        let own = self.own().id;
        let slots = self
            .slots_where(|s| matches!(s, SlotState::Awaiting { .. } | SlotState::Buffered { .. }));
        for r in slots {
            let Some(s) = self.pool.get(r) else { continue };
            let (key, joiner) = (s.key, s.carried.joiner());
            let waiting_on = match s.state {
                SlotState::Awaiting { next, .. } => Some(next.id),
                _ => None,
            };
            let skip = |p: &Peer| p.id == own || Some(p.id) == joiner || Some(p.id) == waiting_on;
            let next = match self.routing.next_hop(key, skip) {
                NextHop::Forward(p) => Some(p),
                NextHop::Local => self
                    .routing
                    .replica_set(key, 3)
                    .iter()
                    .find(|p| !skip(p))
                    .copied(),
            };
            if let Some(p) = next {
                self.send_slot(r, p);
            }
        }
    }

    /// A join failed: the messages buffered for it go back to their
    /// sources as failed routes.
    pub(super) fn fail_buffered(&mut self) {
        for r in self.buffered() {
            self.fail_route(r);
        }
    }

    /// Routes messages held while joining.
    pub(super) fn redispatch_buffered(&mut self) {
        for r in self.buffered() {
            self.dispatch(r, None);
        }
    }

    fn buffered(&self) -> heapless::Vec<SlotRef, POOL> {
        self.slots_where(|s| matches!(s, SlotState::Buffered { .. }))
    }

    /// The slots in use whose state satisfies `f`.
    pub(super) fn slots_where(
        &self,
        f: impl Fn(&SlotState) -> bool,
    ) -> heapless::Vec<SlotRef, POOL> {
        self.pool
            .in_use()
            .filter(|(_, s)| f(&s.state))
            .map(|(r, _)| r)
            .collect()
    }
}
