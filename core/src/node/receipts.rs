//! End-to-end receipts. Per-hop acks (MSPastry §3.3) lose a message whose
//! hop acked it and then crashed: the ack proves the hop took it, not that
//! it reached the root. So the source keeps a message that asks for a
//! receipt after its first hop acked, until the node that delivers it
//! answers, and sends it again as a new attempt (which relays take as a
//! new message) when no receipt comes. The delivering node marks what it
//! delivered among the messages it has seen (the last `QUEUE`), so a copy
//! that arrives again is answered, not delivered.
//!
//! (The handlers of delivery, receipt, failure and timeout are not
//! inlined: one copy of each keeps the embedded build's flash.)

use super::Node;
use super::app::Forwarder;
use super::event::Ev;
use super::outbox::Out;
use super::pool::{Carried, SlotRef, SlotState};
use crate::id::Id;
use crate::peer::Peer;
use crate::wire::{AppId, HandoverRecord, Receipt, RouteFailed};

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// Whether a message of ours in `r`, about to go to `next`, asks for
    /// a receipt: an end-node application's whose policy wants them, not
    /// straight to the node whose id is the key (its ack is the receipt),
    /// and not a copy handed to one chosen node (`secure_route`'s, whose
    /// lookup gathers its own answers; sent again it would be routed, not
    /// handed). `None` for a message of someone else's: its source chose.
    pub(super) fn wants_receipt(&self, r: SlotRef, next: Peer) -> Option<bool> {
        let s = self.pool.get(r)?;
        if s.source.id != self.own().id || s.carried != Carried::Routed {
            return None;
        }
        let policy = self.policy.get(s.app);
        let direct = next.id == s.key || s.handoff;
        Some(policy.receipts && !policy.per_hop && !direct && self.config.max_resends > 0)
    }

    /// The next hop acked the message in `r`. A message of ours that asked
    /// for a receipt waits for it; anything else is done here.
    pub(super) fn hop_acked(&mut self, r: SlotRef) {
        let own = self.own().id;
        let (now, wait) = (self.now, self.config.receipt_timeout);
        match self.pool.get_mut(r) {
            Some(s) if s.receipt && s.source.id == own && s.carried == Carried::Routed => {
                // Each attempt waits twice as long as the one before: a
                // root holding the message for a suspected neighbour
                // (MSPastry, up to a probe cycle) has all the attempts, and
                // only a later one reaches the root after it (#32: at 5 s
                // each, three attempts were held by one root that crashed).
                let deadline = now + wait.saturating_mul(1 << s.attempt.min(4));
                s.state = SlotState::Custody { deadline };
            }
            _ => self.pool.free(r),
        }
    }

    /// About to deliver the message in `r`: answers its source with a
    /// receipt if it asked for one, and says whether this is the first
    /// copy delivered here (a copy sent again is answered, not delivered).
    #[inline(never)]
    pub(super) fn first_delivery(&mut self, r: SlotRef) -> bool {
        let Some(s) = self.pool.get(r) else {
            return false;
        };
        if !s.receipt || s.source.id == self.own().id {
            return true;
        }
        let (to, msg_id, key, app) = (s.source.addr, s.msg_id, s.key, s.app);
        let source = s.source.id;
        let held = self.handed.holds(source, msg_id);
        let before = self.seen.delivered(source, msg_id) || held;
        if !held {
            // For a node that joins beside us before the source stops
            // sending it (`handover`).
            self.handed.push(HandoverRecord::new(key, source, msg_id));
        }
        // Twice by default: a lost receipt sends the message again, and if
        // the key's root changed meanwhile the new one delivers it again
        // (#32: most duplicates at 1 % loss).
        for _ in 0..self.config.receipt_copies {
            self.push_out(Out::Receipt {
                to,
                msg_id,
                key,
                app,
            });
        }
        !before
    }

    /// A receipt for a message of ours: it was delivered, the wait ends.
    /// Only the message's id, which only its path has seen, makes it
    /// believed; anything else is unsolicited, or a duplicate if it came
    /// after the receipt that ended the wait (its second copy).
    #[inline(never)]
    pub(super) fn on_receipt(&mut self, m: Receipt) {
        let own = self.own().id;
        match self.waiting_for_receipt(m.msg_id, m.key) {
            Some(r) => {
                // Remembered as receipted (delivered), for the second copy.
                self.seen.delivered(own, m.msg_id);
                self.pool.free(r);
            }
            None if self.seen.was_delivered(own, m.msg_id) => self.stats.drops.duplicate += 1,
            None => self.stats.drops.unsolicited += 1,
        }
    }

    /// A node on the path of a message we sent could not route it on.
    /// A message that waits for its receipt and has attempts left is sent
    /// again at once; otherwise the news is the application's, advisory
    /// like the event it becomes: after a lost ack a copy may take another
    /// path and still arrive.
    #[inline(never)]
    pub(super) fn on_route_failed(&mut self, app: AppId, m: RouteFailed) {
        if let Some(r) = self.waiting_for_receipt(m.msg_id, m.key) {
            let (max, now) = (self.config.max_resends, self.now);
            if let Some(s) = self.pool.get_mut(r) {
                match s.state {
                    SlotState::Custody { .. } if s.attempt < max => {
                        s.state = SlotState::Custody { deadline: now };
                        return;
                    }
                    // A hop of this attempt still waits for its ack.
                    SlotState::Awaiting { .. } => return,
                    _ => self.pool.free(r),
                }
            }
        }
        self.push_event(Ev::RouteFailed {
            msg_id: m.msg_id,
            key: m.key,
            app,
        });
    }

    /// No receipt came in time: the message goes again as a new attempt.
    /// When its attempts are spent it is let go, counted, and not reported
    /// failed: every attempt's first hop took it, and a lost receipt (one
    /// datagram) is likelier than three lost messages, so a failure event
    /// would mostly be false and make the application send a duplicate.
    #[inline(never)]
    pub(super) fn receipt_timed_out(&mut self, r: SlotRef) {
        let max = self.config.max_resends;
        let Some(s) = self.pool.get_mut(r) else {
            return;
        };
        if s.attempt >= max {
            self.stats.unconfirmed += 1;
            self.pool.free(r);
            return;
        }
        s.attempt += 1;
        s.tried.clear();
        s.attempts = 0;
        s.hops = 0;
        self.stats.resent += 1;
        self.dispatch(r, None);
    }

    /// Our message `msg_id` for `key`, sent and not yet receipted.
    fn waiting_for_receipt(&self, msg_id: u64, key: Id) -> Option<SlotRef> {
        let own = self.own().id;
        self.pool
            .in_use()
            .find(|(_, s)| {
                s.msg_id == msg_id
                    && s.key == key
                    && s.receipt
                    && s.source.id == own
                    && matches!(
                        s.state,
                        SlotState::Custody { .. } | SlotState::Awaiting { .. }
                    )
            })
            .map(|(r, _)| r)
    }
}
