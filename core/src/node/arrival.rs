//! A routed message at its root: delivered only by an active node
//! (MSPastry's consistent routing: a joining node buffers it), a join
//! answered by the root, and a message whose application the root denies
//! handed down the key's replica set (PROST).

use super::app::Forwarder;
use super::event::Ev;
use super::outbox::Out;
use super::pool::{Carried, SlotRef, SlotState};
use super::{Node, Phase};

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// This node is the key's root by its leaf set.
    pub(super) fn arrive(&mut self, r: SlotRef) {
        let Some(s) = self.pool.get_mut(r) else {
            return;
        };
        if self.phase != Phase::Active {
            // MSPastry: a node that is not active never delivers.
            self.buffer_until_active(r);
            return;
        }
        match s.carried {
            Carried::Join { joiner } => {
                let max_row = joiner
                    .id
                    .shared_prefix_len(self.own().id)
                    .min(u8::MAX as usize) as u8;
                self.push_out(Out::JoinReply {
                    to: joiner.addr,
                    from_root: true,
                    max_row,
                });
                self.pool.free(r);
            }
            Carried::Routed => self.serve(r),
            Carried::Query { .. } => self.dispatch_query(r),
        }
    }

    /// At the root (or a replica it handed to): deliver if this node serves
    /// the application, else hand it down the replica set (PROST).
    pub(super) fn serve(&mut self, r: SlotRef) {
        let Some(s) = self.pool.get(r) else { return };
        if self.policy.get(s.app).allow {
            self.deliver(r);
        } else {
            self.hand_off(r);
        }
    }

    pub(super) fn deliver(&mut self, r: SlotRef) {
        if self.events.is_full() {
            self.stats.events_dropped += 1;
            self.pool.free(r);
            return;
        }
        if !self.first_delivery(r) {
            // Its source sent it again before our receipt reached it.
            self.stats.drops.duplicate += 1;
            self.pool.free(r);
            return;
        }
        if let Some(s) = self.pool.get_mut(r) {
            s.state = SlotState::Delivering;
        }
        self.stats.delivered += 1;
        self.push_event(Ev::Deliver(r));
    }

    /// PROST: this node denies the application, so the message goes to the
    /// next member of the key's replica set after this node.
    pub(super) fn hand_off(&mut self, r: SlotRef) {
        let Some(s) = self.pool.get(r) else { return };
        let set = self.routing.replica_set(s.key, self.config.replicas);
        let own = self.own().id;
        let after_me = set.iter().position(|p| p.id == own).map_or(0, |i| i + 1);
        let next = set
            .iter()
            .skip(after_me)
            .find(|p| !s.tried.contains(&p.id) && !self.probes.is_suspect(p.id))
            .copied();
        match next {
            Some(p) => {
                if let Some(s) = self.pool.get_mut(r) {
                    s.handoff = true;
                }
                self.send_slot(r, p);
            }
            None => self.fail_route(r),
        }
    }
}
