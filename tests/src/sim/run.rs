//! Running the simulation: the event loop, datagrams arriving, each node's
//! drain through its output door, the network's delay and loss, and the
//! judge's view of every lookup's path and delivery.

use std::net::SocketAddr;
use std::time::Duration;

use pastry_core::app::{Either, HostEvent};
use pastry_core::node::MAX_SECURE_ROOTS;
use pastry_core::wire::{Body, Kind, Message};
use pastry_core::{Event, Id, Instant, Output};

use super::{Action, Fault, Sim, groups, storage};

/// What the judge takes from an overlay event (owned, so the node's
/// borrow ends before the judge runs).
#[derive(Clone, Copy, Debug)]
enum Seen {
    Joined,
    JoinFailed,
    Delivered {
        msg_id: u64,
        hops: u8,
    },
    RouteFailed {
        msg_id: u64,
    },
    Secured {
        op: u64,
        /// The first roots the source accepted (ids, closest first).
        roots: [Option<Id>; MAX_SECURE_ROOTS],
        redundant: bool,
    },
    Other,
}

impl Seen {
    fn of(ev: Event<'_>) -> Seen {
        match ev {
            Event::Joined => Seen::Joined,
            Event::JoinFailed => Seen::JoinFailed,
            Event::Deliver(d) => Seen::Delivered {
                msg_id: d.msg_id,
                hops: d.hops,
            },
            Event::RouteFailed { msg_id, .. } => Seen::RouteFailed { msg_id },
            Event::Update { .. } => Seen::Other,
            Event::Secured(s) => {
                let mut roots = [None; MAX_SECURE_ROOTS];
                for (slot, p) in roots.iter_mut().zip(s.roots.iter()) {
                    *slot = Some(p.id);
                }
                Seen::Secured {
                    op: s.op,
                    roots,
                    redundant: s.redundant,
                }
            }
            _ => Seen::Other,
        }
    }
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// Runs every event up to and including `until`; the clock ends there.
    pub fn run_until(&mut self, until: Instant) {
        while let Some((at, action)) = self.queue.pop_due(until) {
            self.now = self.now.max(at);
            self.counters.events += 1;
            match action {
                Action::Arrive {
                    to,
                    from,
                    delay_us,
                    buf,
                } => {
                    let bytes = std::mem::take(&mut self.wire[buf as usize]);
                    self.arrive(to as usize, from as usize, delay_us, &bytes);
                    self.wire[buf as usize] = bytes;
                    self.free_wire.push(buf);
                }
                Action::Depart(i) => self.depart(i as usize),
                Action::Attack => self.attack_once(),
                Action::Inspect(i) => self.inspect_orphans(i as usize),
                Action::Rejoin(i) => {
                    let idle = self.slots[i as usize]
                        .node()
                        .is_some_and(|n| n.phase() == pastry_core::Phase::Idle);
                    if idle {
                        let boot = self.random_correct();
                        self.join(i as usize, boot);
                    }
                }
                Action::Wake(i) => {
                    self.wakes_now = match self.wakes_now {
                        (t, n) if t == at => (t, n + 1),
                        _ => (at, 1),
                    };
                    assert!(
                        self.wakes_now.1 < 1_000_000,
                        "seed {}: a million wake-ups at {at:?} (last node {i}): a timer spins",
                        self.config.seed
                    );
                    let s = &mut self.slots[i as usize];
                    if let Some(host) = s.host.as_mut().filter(|_| s.wake == Some(at)) {
                        host.handle_timeout(at);
                        s.wake = None;
                        self.drain(i as usize);
                    }
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    pub(super) fn arrive(&mut self, to: usize, from: usize, delay_us: u64, bytes: &[u8]) {
        if self.slots[to].host.is_none() {
            self.counters.dropped += 1;
            return;
        }
        if bytes.get(3) == Some(&(Kind::Routed as u8)) {
            self.trace_hop(to, from, delay_us, bytes);
        }
        let from_addr = self.slots[from].addr;
        let now = self.now;
        if let Some(host) = self.slots[to].host.as_mut() {
            host.handle_datagram(now, from_addr, bytes);
        }
        self.drain(to);
    }

    /// Accumulates the one-way delay of a lookup's path: the first copy of
    /// the message to reach a node counts.
    pub(super) fn trace_hop(&mut self, to: usize, from: usize, delay_us: u64, bytes: &[u8]) {
        let Ok(Message {
            body: Body::Routed(m),
            ..
        }) = super::snoop(bytes)
        else {
            return;
        };
        let Some(l) = self.lookups.get_mut(&m.msg_id) else {
            return;
        };
        if l.path.iter().any(|(n, _)| *n == to as u32) {
            return;
        }
        let base = l
            .path
            .iter()
            .find(|(n, _)| *n == from as u32)
            .map_or(0, |(_, d)| *d);
        l.path.push((to as u32, base + delay_us));
    }

    /// The drain rule for node `i`: its output door until it answers with
    /// a deadline; datagrams onto the network, events to the judge; then
    /// that deadline onto the queue.
    pub(super) fn drain(&mut self, i: usize) {
        let deadline = loop {
            let Some(host) = self.slots[i].host.as_mut() else {
                return;
            };
            let out = match host.poll_output(&mut self.buf) {
                Ok(out) => out,
                Err(e) => panic!("node {i}: buffer of max_datagram refused: {e:?}"),
            };
            match out {
                Output::Transmit(tx) => self.send(i, tx.destination, tx.len),
                Output::Event(HostEvent::App(Either::First(d))) => {
                    let seen = storage::Seen::of(d);
                    self.storage.judge(i, seen);
                }
                Output::Event(HostEvent::App(Either::Second(s))) => {
                    let news = groups::News::of(s);
                    self.judge_scribe(i, news);
                }
                Output::Event(HostEvent::Overlay(ev)) => {
                    let seen = Seen::of(ev);
                    self.judge_overlay(i, seen);
                }
                Output::Timeout(t) => break t,
            }
        };
        if !self.key_trace.is_empty() {
            self.trace_keys(i);
        }
        if self.healing.is_watching() {
            self.watch_orphans(i);
        }
        // One pending wake per node, the earliest: a later deadline is
        // picked up when that wake runs and the node is drained again.
        if let Some(t) = deadline {
            let at = t.max(self.now);
            if self.slots[i].wake.is_none_or(|w| w > at) {
                self.slots[i].wake = Some(at);
                self.schedule(at, Action::Wake(i as u32));
            }
        }
    }

    /// What an overlay event means to the judge.
    fn judge_overlay(&mut self, i: usize, seen: Seen) {
        match seen {
            Seen::Joined => {
                if let Some(n) = self.slots[i].node() {
                    let id = n.own().id;
                    self.truth.insert(id, i as u32);
                }
                self.colluder_joined(i);
                if self.slots[i].scribe().is_some() {
                    self.scribe_joined(i);
                }
            }
            Seen::Delivered { msg_id, hops } => {
                if !self.judge_secure_delivery(i, msg_id) {
                    self.judge(i, msg_id, hops);
                }
            }
            Seen::Secured {
                op,
                roots,
                redundant,
            } => {
                let roots: Vec<Id> = roots.into_iter().flatten().collect();
                self.judge_secured(op, &roots, redundant)
            }
            Seen::JoinFailed => {
                self.counters.join_failures += 1;
                let at = self.now + Duration::from_millis(1);
                self.schedule(at, Action::Rejoin(i as u32));
            }
            Seen::RouteFailed { msg_id } => {
                if let Some(l) = self.lookups.get_mut(&msg_id) {
                    l.failed = true;
                }
            }
            Seen::Other => {}
        }
    }

    pub(super) fn send(&mut self, from: usize, to_addr: SocketAddr, len: usize) {
        self.counters.datagrams += 1;
        self.counters.bytes += len as u64;
        let kind = self.buf.get(3).copied();
        self.counters.by_kind[usize::from(kind.unwrap_or(0) & 0x1f)] += 1;
        // Routed messages, their acks and receipts are the messages'
        // own traffic; the rest keeps the overlay.
        const MESSAGE: [u8; 3] = [Kind::Routed as u8, Kind::Ack as u8, Kind::Receipt as u8];
        if !kind.is_some_and(|k| MESSAGE.contains(&k)) {
            self.counters.control_datagrams += 1;
            self.counters.control_bytes += len as u64;
        } else if self.config.dht.is_some() && storage::is_replication(&self.buf[..len]) {
            self.counters.replication_datagrams += 1;
            self.counters.replication_bytes += len as u64;
        }
        const QUERY: [u8; 2] = [Kind::Query as u8, Kind::ReplicaSet as u8];
        // Read only while judged lookups run: most runs have none.
        if !self.secure.keys.is_empty() && kind.is_some_and(|k| QUERY.contains(&k)) {
            let to = self.by_addr.get(&to_addr).copied();
            let bytes = std::mem::take(&mut self.buf);
            if self.judge_query(from, to, &bytes[..len]) {
                self.counters.judged_query_datagrams += 1;
            }
            self.buf = bytes;
        }
        if self.config.scribe.is_some() && kind == Some(Kind::Routed as u8) {
            self.count_scribe(from, to_addr, len);
        }
        if to_addr == super::attack::ATTACKER && self.heard_by_attacker(len) {
            return;
        }
        let Some(&to) = self.by_addr.get(&to_addr) else {
            self.counters.dropped += 1;
            return;
        };
        let lost = self.config.loss > 0.0 && self.rng.unit() < self.config.loss;
        let cut = self.partitioned && self.slots[from].side != self.slots[to as usize].side;
        // A fault chosen for this datagram (fuzzing), after the model's own.
        let fault = self.faults.pop_front().unwrap_or(Fault::Deliver);
        if lost || cut || fault == Fault::Drop {
            self.counters.dropped += 1;
            return;
        }
        let base = self
            .network
            .one_way(self.slots[from].place, self.slots[to as usize].place);
        let stretch = if self.config.jitter > 0.0 {
            1.0 + self.rng.unit() * self.config.jitter
        } else {
            1.0
        };
        let mut delay_us = (base.as_micros() as f64 * stretch) as u64;
        if let Fault::Delay(d) = fault {
            delay_us += d.as_micros() as u64;
        }
        self.enqueue(from, to, delay_us, len);
        if let Fault::Duplicate(d) = fault {
            self.enqueue(from, to, delay_us + d.as_micros() as u64, len);
        }
    }

    /// Puts the datagram in `buf` on the wire, to arrive after `delay_us`.
    pub(super) fn enqueue(&mut self, from: usize, to: u32, delay_us: u64, len: usize) {
        let at = self.now + Duration::from_micros(delay_us);
        // Datagram buffers are recycled: no allocation per datagram once
        // the most in flight at once have been seen.
        let buf = self.free_wire.pop().unwrap_or_else(|| {
            self.wire.push(Vec::new());
            (self.wire.len() - 1) as u32
        });
        let bytes = &mut self.wire[buf as usize];
        bytes.clear();
        bytes.extend_from_slice(&self.buf[..len]);
        self.schedule(
            at,
            Action::Arrive {
                to,
                from: from as u32,
                delay_us,
                buf,
            },
        );
    }

    pub(super) fn schedule(&mut self, at: Instant, action: Action) {
        self.queue.push(at, action);
    }

    /// A delivery at node `at`: was it the key's true root, and how far
    /// did the message travel compared with the direct path?
    pub(super) fn judge(&mut self, at: usize, msg_id: u64, hops: u8) {
        let Some(l) = self.lookups.get(&msg_id) else {
            return;
        };
        let correct = self.truth.root_of(l.key) == Some(at as u32);
        let source = l.source as usize;
        let rdp = if at == source {
            None
        } else {
            let path = l
                .path
                .iter()
                .find(|(n, _)| *n == at as u32)
                .map(|(_, d)| *d);
            let direct = self
                .network
                .one_way(self.slots[source].place, self.slots[at].place)
                .as_micros() as f64;
            path.map(|p| p as f64 / direct.max(1.0))
        };
        if let Some(l) = self.lookups.get_mut(&msg_id) {
            l.deliveries.push((at as u32, correct, hops, rdp));
        }
    }
}
