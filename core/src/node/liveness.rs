//! Liveness (MSPastry §3): probes with RTT-derived timeouts and retries,
//! suspicion, failure declared and announced, graceful leaves, and the
//! watch on the right neighbour.

use core::time::Duration;

use super::app::Forwarder;
use super::event::Ev;
use super::graveyard::GRAVEYARD;
use super::outbox::Out;
use super::pool::SlotState;
use super::probes::{Probe, Purpose, Tell};
use super::{Node, Phase};
use crate::id::Id;
use crate::leaf_set::Insertion;
use crate::peer::Peer;
use crate::routing_table::{Considered, Rtt};
use crate::time::Instant;
use crate::wire::{Leave, ProbeReply};

/// Retries of a probe of a leaf-set candidate (see `retries_for`).
const LEAF_CANDIDATE_RETRIES: u8 = 3;

/// RFC 6298 round-trip estimator over all acknowledged hops.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RttEstimator {
    pub(super) srtt: Option<Duration>,
    pub(super) rttvar: Duration,
}

impl RttEstimator {
    pub(super) fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(s * 7 / 8 + r / 8);
            }
        }
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
    /// Direct contact from `peer` proves it alive: refresh or add it to the
    /// leaf set and offer it to the routing table (RTT still unknown).
    /// Returns whether `peer` is new in the leaf set.
    pub(super) fn heard_from(&mut self, peer: Peer) -> bool {
        self.heard(peer, false)
    }

    /// `peer` spoke; `fresh` when it answered our probe (its nonce proves
    /// the datagram is not an old one).
    pub(super) fn heard(&mut self, peer: Peer, fresh: bool) -> bool {
        // Only an answer to the probe (its nonce) ends a probe: any other
        // datagram may be an old copy from a node since gone (counting it
        // kept dead members for good, sim_faults); it earns a new try, so
        // a probe under way does not expire on a dead incarnation.
        self.probes.heard_from(peer.id);
        if !fresh && self.graveyard.contains(peer.id) {
            // We declared it failed: a datagram delayed, duplicated or
            // replayed must not bring it back, its answer to a probe will
            // (found by the sim_faults fuzz target).
            self.probe(peer, Purpose::Rtt, true);
            return false;
        }
        if let Some((id, t)) = &mut self.right_watch {
            if *id == peer.id {
                *t = self.now;
            }
        }
        // (Not fresh, it is not buried: checked above.)
        if fresh && self.graveyard.exhume(peer.id) {
            // One failed member is back: the others may be too (a healed
            // partition). Ask them all now, not one per heartbeat.
            let buried: heapless::Vec<Peer, { GRAVEYARD }> = self.graveyard.all().collect();
            for p in buried {
                self.probe(p, Purpose::Rtt, true);
            }
        }
        let ins = self.insert_leaf(peer);
        let added = ins.added;
        if added && !fresh {
            // What we heard may be an old datagram (delayed, duplicated,
            // replayed) from a node that is gone: a new member proves it is
            // alive by answering a probe, or is declared failed (found by
            // the sim_faults fuzz target).
            self.probe(peer, Purpose::LeafCandidate, false);
        }
        if added || ins.refreshed {
            if let Some(k) = self.heard_lately.note(peer.id, self.now) {
                self.recheck_now(k);
            }
        }
        if self.routing.table_mut().consider(peer, Rtt::UNKNOWN) == Considered::Inserted && !added {
            // A new entry with no measurement: measure it for proximity.
            self.probe(peer, Purpose::Rtt, false);
        }
        added
    }

    /// Like [`Node::heard_from`], for a message whose sender may not know
    /// us (a reply, a routed hop): a new leaf-set member is probed, so it
    /// learns of us too and leaf sets stay symmetric. A joining node also
    /// asks it for its leaf set and waits for its answer before activating.
    pub(super) fn heard_one_way(&mut self, peer: Peer) {
        if self.heard_from(peer) {
            let joining = self.phase == Phase::Joining;
            if !self.probe(peer, Purpose::LeafCandidate, joining) {
                // No room to tell it: a member it does not know of would
                // make the leaf sets asymmetric. The next leaf set that
                // lists it offers it again.
                self.forget(peer);
            }
        }
    }

    pub(super) fn insert_leaf(&mut self, peer: Peer) -> Insertion {
        let ins = self.routing.leaf_set_mut().insert(peer);
        if ins.added {
            self.push_event(Ev::Update { peer, joined: true });
        }
        for e in ins.evicted() {
            self.push_event(Ev::Update {
                peer: e,
                joined: false,
            });
        }
        if ins.added {
            self.refresh_right_watch();
        }
        ins
    }

    /// Starts (or strengthens) a probe of `peer`.
    pub(super) fn probe(&mut self, peer: Peer, purpose: Purpose, want_leaf_set: bool) -> bool {
        let retries = self.retries_for(purpose, peer.id);
        // Drawn before the probe is borrowed; only for an upgrade.
        let upgrade =
            (self.probes.find(peer.id)).is_some_and(|p| want_leaf_set && !p.want_leaf_set);
        let new_nonce = if upgrade { self.random_u64() } else { 0 };
        if let Some(p) = self.probes.find_mut(peer.id) {
            if purpose > p.purpose {
                p.purpose = purpose;
                p.tries_left = p.tries_left.max(retries);
            }
            if !want_leaf_set || p.want_leaf_set {
                return true;
            }
            // The probe in flight did not ask for the leaf set: ask again,
            // under a new nonce. The answer to the first send carries no
            // leaf set, and may arrive last or alone: under the old nonce
            // it ended the probe, and a joiner went active knowing only its
            // root, its neighbours never asked for theirs (two of them,
            // each joined concurrently, never learned of each other:
            // pastry-mio's cluster example under load). The answer is no
            // RTT sample either way.
            p.want_leaf_set = true;
            p.resent = true;
            p.nonce = new_nonce;
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
            tell: Tell::EVERYONE,
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

    /// Retries a probe of `id` gets. A suspected member gets them all
    /// (declaring a live member failed is costly); a routing-table entry
    /// that missed an ack gets a leaf-set candidate's (a wrong verdict
    /// costs a slot the next candidate fills). A measurement of a member
    /// or of a table entry is worth one (a single loss should not cost
    /// the entry); of a candidate, none: its loss costs only the
    /// candidate, and most candidates that never answer are dead nodes
    /// that others' rows still list (#32: at 10-minute sessions these two
    /// rules cut 0.05 messages per node per second). A leaf-set candidate
    /// is second-hand news, often stale under churn, and a joiner waits
    /// on it; a live one missed is offered again by the next leaf set
    /// that lists it.
    pub(super) fn retries_for(&self, purpose: Purpose, id: Id) -> u8 {
        let all = self.config.probe_retries;
        let member = self.routing.leaf_set().contains(id);
        match purpose {
            Purpose::Rtt if member || self.routing.table().get(id).is_some() => all.min(1),
            Purpose::Rtt => 0,
            Purpose::LeafCandidate => all.min(LEAF_CANDIDATE_RETRIES),
            Purpose::Suspect if member => all,
            Purpose::Suspect => all.min(LEAF_CANDIDATE_RETRIES),
        }
    }

    /// How long try `n` (0 first) of a probe of `id` waits for the reply:
    /// the hop timeout from its measured RTT, doubled for each retry (RFC
    /// 6298 backoff), at most `probe_timeout`. Loss is survived by the
    /// number of tries, a slow peer by the backoff. A peer never measured
    /// gets at least the initial RTO (RFC 6298 §2.1): our own RTT average
    /// says nothing of a far peer, and timing it out early would drop it
    /// from the table only for it to be offered and probed again.
    pub(super) fn probe_wait(&self, id: Id, n: u32) -> Duration {
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
                    let rtt = Rtt::from_duration(rtt);
                    self.measured.note(sender.id, rtt, self.now);
                    self.routing.table_mut().consider(sender, rtt);
                }
            }
            _ => self.stats.drops.unsolicited += 1,
        }
        self.heard(sender, fresh);
        let joining = self.phase == Phase::Joining;
        if joining && fresh && !m.handover.is_empty() {
            // What a neighbour delivered as root of keys now ours.
            let own = self.own().id;
            self.stats.handed_over += self.handed.take((own, sender.id), m.handover.iter());
        }
        self.offer_leaf_set(&m.leaf_set, joining);
        self.probe_resolved();
    }

    /// A probe ended (answered or given up): a joiner may now be active,
    /// and messages held for a suspect may move on.
    pub(super) fn probe_resolved(&mut self) {
        self.check_activation();
        if self.phase == Phase::Active {
            self.redispatch_buffered();
        }
    }

    pub(super) fn run_probe_timeouts(&mut self) {
        while let Some(p) = self.probes.due(self.now) {
            if self.guard.connecting(p.peer.addr) {
                // Its probe waits for the handshake, which has a timeout
                // of its own: no verdict until that ends.
                let wait = self.probe_wait(p.peer.id, 1);
                if let Some(e) = self.probes.find_mut(p.peer.id) {
                    e.deadline = self.now + wait;
                }
                continue;
            }
            if p.tries_left > 0 {
                let all = self.retries_for(p.purpose, p.peer.id);
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
                // Found silent ourselves: everyone hears it from us.
                let tell = if p.purpose == Purpose::Suspect {
                    Tell::EVERYONE
                } else {
                    p.tell
                };
                self.declare_failed(p.peer, tell);
            } else {
                // A candidate that never answered: not worth a table slot,
                // nor another probe while its silence is recent.
                self.routing.table_mut().remove(p.peer.id);
                self.measured.note(p.peer.id, Rtt::UNKNOWN, self.now);
                if p.purpose == Purpose::LeafCandidate {
                    self.gave_up_candidate(p.peer.id);
                }
            }
            self.probe_resolved();
        }
    }

    /// `peer` did not answer its probes: drop it everywhere, tell the leaf
    /// set (the members `tell` names) and repair the side it left (eager
    /// repair, Pastry'01 §2.4).
    pub(super) fn declare_failed(&mut self, peer: Peer, tell: Tell) {
        self.stats.failures += 1;
        let (was_left, was_right) = self.forget(peer);
        #[cfg(feature = "secure-routing")]
        self.refill_after_failure(peer.id);
        if was_left || was_right {
            // A partition silences its members at once: they are found
            // within a lease and a probe cycle of each other.
            let window = self.config.lease + self.config.probe_cycle();
            let alarm = self.config.maintenance_period;
            let left = self.routing.leaf_set().members().count();
            self.graveyard.bury(peer, self.now, (window, alarm), left);
            // Three members lost within a third of a lease (churn at
            // 10-minute sessions loses one in about a minute): views
            // disagree widely (a mass failure), and only every member's
            // announcement to all of its own refills them all (found with a
            // fifth of the nodes crashing at once).
            let tell = if self.graveyard.mass_within(self.now, self.config.lease / 3) {
                Tell::EVERYONE
            } else {
                tell
            };
            let own = self.own().id;
            for right in [false, true] {
                let mut taken = 0;
                // By index, so no list is copied while we send.
                for i in 0..HALF {
                    let ls = self.routing.leaf_set();
                    let side = if right { ls.right() } else { ls.left() };
                    let Some(m) = side.get(i).copied() else { break };
                    // On a small ring a member is on both sides: told once.
                    let twice =
                        right && tell.is_everyone() && ls.left().iter().any(|p| p.id == m.id);
                    if !twice && tell.takes(own, m.id, right, &mut taken) {
                        self.push_out(Out::LeafSet {
                            to: m.addr,
                            want_reply: false,
                            announces: true,
                        });
                    }
                }
            }
            self.repair_sides(was_left, was_right);
        }
    }

    /// Asks members of each side that lost one for their leaf sets: the
    /// farthest (Pastry'01 §2.4: its set reaches past ours) and the nearest
    /// (its set covers the next L/2 positions on that side, which matters
    /// when the side was refilled with far nodes while it had a hole).
    pub(super) fn repair_sides(&mut self, left: bool, right: bool) {
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

    pub(super) fn on_leave(&mut self, sender: Peer, m: Leave<'_>) {
        let (was_left, was_right) = self.forget(sender);
        // Buried like a failed member (without counting towards a mass
        // failure): a datagram it sent before leaving that arrives late
        // must not make it a member again; only an answer to a probe can
        // (found by the sim_faults fuzz target).
        let no_alarm = (Duration::ZERO, Duration::ZERO);
        self.graveyard.bury(sender, self.now, no_alarm, 0);
        self.offer_leaf_set(&m.leaf_set, false);
        self.repair_sides(was_left, was_right);
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
                    announces: false,
                });
            }
            self.right_watch = Some((id, self.now));
        }
    }
}
