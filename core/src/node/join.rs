//! Joining (Pastry'01 §2.4): the join request routed to the joiner's own
//! id, rows from the nodes on the way and the root's leaf set, and
//! MSPastry's consistent activation (active only once every leaf-set
//! member has answered).

use core::net::SocketAddr;
use core::time::Duration;

use heapless::Vec;

use super::app::Forwarder;
use super::event::{CommandError, Ev};
use super::graveyard::Graveyard;
use super::outbox::Out;
use super::probes::{Probes, Purpose};
use super::{JoinState, Node, Phase, REFINE_ROUNDS, TIMERS, Timer};
use crate::peer::Peer;
use crate::routing::RoutingState;
use crate::wire::{JoinReply, JoinRequest};

/// Entries of each row a node asks for that row when it becomes active:
/// the nearest four. With fewer, too few nodes hear of the newcomer
/// (2,000 nodes on the plane: with two or three, 0.5 % of the fillable
/// row-1 slots stayed empty; none with four or all); all of them bring
/// many copies of the same rows (10,000 nodes: RDP the same with two,
/// three or four, 1.72 with one).
const ROWS_ASKED_OF: usize = 4;

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
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
    pub(super) fn send_join_request(&mut self, to: SocketAddr, wait: Duration) {
        let msg_id = self.random_u64();
        self.push_out(Out::JoinRequest { to, msg_id });
        self.set_timer(Timer::Join, Some(self.now + wait));
    }

    /// How long a joiner waits for its bootstrap's ack of the join request
    /// before sending it again: the first hop is acked like any other
    /// (MSPastry §3.2), so a request the bootstrap dropped (its pool full
    /// under a burst of joins, or a lost datagram) costs a retransmission
    /// timeout, not a whole join timeout. Backs off from the initial RTO.
    pub(super) fn first_hop_wait(&self, resent: u8) -> Duration {
        let rto = self.config.initial_rto * (1u32 << resent.min(4));
        rto.min(self.config.max_rto).min(self.config.join_timeout)
    }

    /// The waits of a request sent `resent + 1` times.
    pub(super) fn first_hop_spent(&self, resent: u8) -> Duration {
        (0..=resent).map(|i| self.first_hop_wait(i)).sum()
    }

    /// The bootstrap acked the join request: wait for the join itself.
    pub(super) fn join_acked(&mut self, from: SocketAddr, sender: Peer) -> bool {
        let Some(j) = &mut self.join else {
            return false;
        };
        if self.phase != Phase::Joining || j.bootstrap != from || j.acked {
            return false;
        }
        j.acked = true;
        // The node we joined through, by the id it acked with: what a new
        // node's secure lookups start at (`Node::trusted_start`).
        #[cfg(feature = "secure-routing")]
        {
            self.bootstrap = Some(sender);
        }
        #[cfg(not(feature = "secure-routing"))]
        let _ = sender;
        self.set_timer(Timer::Join, Some(self.now + self.config.join_timeout));
        true
    }

    /// A join request, from the joiner (first hop) or from a node routing
    /// it: route it on towards the joiner's id, or answer as its root.
    pub(super) fn on_join_request(&mut self, from: SocketAddr, sender: Peer, m: JoinRequest) {
        let joiner = m.joiner;
        if self.config.verify_peers && m.hops == 0 && joiner != sender {
            // The first hop comes from the joiner itself, whose id and
            // address the session verified: a request naming another
            // address would make the path answer (and greet) a victim.
            self.stats.drops.unsolicited += 1;
            return;
        }
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
        if self.phase == Phase::Joining && !self.join.is_some_and(|j| j.root_replied) {
            // Before its root's reply no node can know this process (they
            // learn a joiner when it probes them after the reply): a join
            // routed here was routed to an old incarnation, this id's
            // before a restart. Buffering it could hold it for ever (two
            // neighbours restarted together each hold the other's join).
            // Take nothing, so the hop reroutes, and tell it we are not in
            // the ring, so it stops routing to us.
            self.stats.drops.not_active += 1;
            if m.hops > 0 {
                self.push_out(Out::Leave { to: from });
            }
            return;
        }
        let carried = super::pool::Carried::Join { joiner };
        let Some(r) = self.accept_hop(
            from,
            sender.id,
            carried,
            joiner,
            m.msg_id,
            (false, 0),
            &[],
            None,
        ) else {
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
        self.offer_leaf_set(&m.leaf_set, true);
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
        #[cfg(feature = "secure-routing")]
        self.start_securing();
        self.refine_rounds = REFINE_ROUNDS;
        self.set_timer(Timer::Refine, Some(self.now + self.config.probe_timeout));
        // Pastry'01 §2.5, Castro et al. 2002 §4: ask the nearest entries
        // of each row for that row. Their rows are near them, so near us;
        // the candidates are probed and nearer ones replace farther
        // entries, so a far bootstrap still ends proximity-good, and the
        // asked learn of us (each may take us as a nearer entry). Asking
        // every entry, as the paper's new node tells every node of its
        // state, brought 15 copies of the same rows and probed their union
        // (10,000 nodes: a fifth more datagrams, RDP no better).
        // At most half the outbound queue (an embedded node's is 16).
        let mut asks: Vec<(SocketAddr, u8), 64> = Vec::new();
        for row in 0..ROWS {
            let Some(entries) = self.routing.table().row(row) else {
                break;
            };
            // The nearest few by a scan per pick (no sort: it would cost
            // the embedded build kilobytes of code); (RTT, column) orders
            // them, the column breaking ties.
            let mut last = None;
            for _ in 0..ROWS_ASKED_OF {
                let next = entries
                    .iter()
                    .enumerate()
                    .filter_map(|(col, e)| e.as_ref().map(|e| (e.rtt, col)))
                    .filter(|k| last.is_none_or(|l| *k > l))
                    .min();
                let Some(k) = next.filter(|_| asks.len() < QUEUE / 2) else {
                    break;
                };
                if let Some(e) = &entries[k.1] {
                    let _ = asks.push((e.peer.addr, row as u8));
                }
                last = Some(k);
            }
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

    pub(super) fn join_timed_out(&mut self) {
        let Some(j) = self.join else { return };
        if self.guard.connecting(j.bootstrap) {
            // The request waits for the handshake with the bootstrap, whose
            // own tries bound the wait (a busy bootstrap under a crowd of
            // joiners answers late); if it fails, the request is dropped
            // and the next timeout sends it again.
            let wait = self.first_hop_wait(j.resent);
            self.set_timer(Timer::Join, Some(self.now + wait));
            return;
        }
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
    pub(super) fn abandon_join(&mut self) {
        self.fail_buffered();
        self.phase = Phase::Idle;
        self.join = None;
        if let Ok(fresh) = RoutingState::new(self.own(), &self.config) {
            self.routing = fresh;
        }
        self.probes = Probes::new();
        self.timers = [crate::time::Instant::MAX; TIMERS];
        self.right_watch = None;
        self.refine_rounds = 0;
        self.graveyard = Graveyard::new();
    }
}
