//! One node inside the event loop: its socket, its core stack, the
//! datagram kept when a send would block, and the callers waiting for
//! outcomes. No protocol logic: commands go to the stack, outcomes go to
//! whoever waits for them.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{SyncSender, TrySendError};

use mio::net::UdpSocket;
use pastry_core::dht::{DhtEvent, MapStore, OpId};
use pastry_core::node::AppPolicy;
use pastry_core::scribe::{AnycastId, Members, ScribeEvent};
use pastry_core::stack::{Stack, StackEvent};
use pastry_core::{AppId, Event, Id, Instant, Peer};

use crate::mailbox::ReplyTx;
use crate::types::{Error, NodeEvent, RuntimeStats, Stats, Value};

/// The core stack a mio node runs: values in a growable map, every member
/// takes anycasts.
pub type MioStack = Stack<MapStore, Members>;

/// How a command's answer travels back.
pub(crate) type Reply<T> = ReplyTx<Result<T, Error>>;

/// A read of the node's state, run on the loop's thread.
pub(crate) type Inspect = Box<dyn FnOnce(&MioStack) + Send>;

/// A command for one node.
pub(crate) enum NodeCommand {
    Join(Option<SocketAddr>, Reply<()>),
    Route(Id, AppId, Vec<u8>, Reply<u64>),
    Put(Id, u64, Vec<u8>, Reply<u8>),
    PutContent(Vec<u8>, Reply<(Id, u8)>),
    Get(Id, bool, Reply<Option<Value>>),
    Subscribe(Id, Reply<()>),
    Unsubscribe(Id, Reply<()>),
    Publish(Id, Vec<u8>, Reply<u64>),
    Anycast(Id, Vec<u8>, Reply<Peer>),
    Policy(AppId, AppPolicy, Reply<()>),
    Inspect(Inspect),
    Stats(Reply<Stats>),
    Shutdown(Reply<()>),
    Crash(Reply<()>),
}

/// Datagrams read per node per wake-up.
pub(crate) const MAX_READS: usize = 64;

enum Waiting {
    Put(Reply<u8>),
    PutContent(Id, Reply<(Id, u8)>),
    Get(Reply<Option<Value>>),
}

pub(crate) struct NodeSlot {
    pub(crate) socket: UdpSocket,
    stack: Box<MioStack>,
    events: SyncSender<NodeEvent>,
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    blocked: Option<(SocketAddr, usize)>,
    /// Readiness not yet used up (edge-triggered: mio says it once).
    pub(crate) readable: bool,
    joins: Vec<Reply<()>>,
    ops: HashMap<OpId, Waiting>,
    anycasts: HashMap<AnycastId, Reply<Peer>>,
    subscribes: HashMap<Id, Vec<Reply<()>>>,
    stats: RuntimeStats,
}

impl NodeSlot {
    pub(crate) fn new(
        socket: UdpSocket,
        stack: Box<MioStack>,
        events: SyncSender<NodeEvent>,
    ) -> Self {
        let max = stack.node().config().max_datagram;
        NodeSlot {
            socket,
            stack,
            events,
            // One byte more than the core takes: an oversized datagram is
            // seen (and counted) rather than cut.
            inbound: vec![0; max + 1],
            outbound: vec![0; max],
            blocked: None,
            readable: true,
            joins: Vec::new(),
            ops: HashMap::new(),
            anycasts: HashMap::new(),
            subscribes: HashMap::new(),
            stats: RuntimeStats::default(),
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.stack.poll_timeout()
    }

    /// Reads until the socket would block (the readiness is used up) or the
    /// cap; whether readiness is left.
    pub(crate) fn read(&mut self, now: Instant) -> bool {
        for _ in 0..MAX_READS {
            match self.socket.recv_from(&mut self.inbound) {
                Ok((len, from)) => {
                    self.stats.datagrams_in += 1;
                    self.stack.handle_datagram(now, from, &self.inbound[..len]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return false;
                }
                Err(_) => self.stats.recv_errors += 1,
            }
        }
        true
    }

    pub(crate) fn tick(&mut self, now: Instant) {
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
    }

    fn unblock(&mut self) -> bool {
        let Some((to, len)) = self.blocked else {
            return true;
        };
        match self.socket.send_to(&self.outbound[..len], to) {
            Ok(_) => self.stats.datagrams_out += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stats.send_blocked += 1;
                return false;
            }
            Err(_) => self.stats.send_errors += 1,
        }
        self.blocked = None;
        true
    }

    /// The drain rule: transmits (until none, or the socket is full), then
    /// events, until a pass yields neither.
    pub(crate) fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while self.unblock() {
                match self.stack.poll_transmit(&mut self.outbound) {
                    Ok(Some(tx)) => {
                        self.blocked = Some((tx.destination, tx.len));
                        progressed = true;
                    }
                    Ok(None) => break,
                    Err(_) => unreachable!("a max_datagram buffer fits every datagram"),
                }
            }
            while let Some(o) = self.stack.poll_event(Outcome::of) {
                progressed = true;
                self.outcome(o);
            }
            if !progressed {
                return;
            }
        }
    }

    fn emit(&mut self, ev: NodeEvent) {
        match self.events.try_send(ev) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => self.stats.events_dropped += 1,
        }
    }

    /// Runs one command. A shutdown or crash comes back as `(leave,
    /// reply)`: the loop stops the node, then answers.
    pub(crate) fn command(&mut self, now: Instant, c: NodeCommand) -> Option<(bool, Reply<()>)> {
        let s = &mut self.stack;
        match c {
            NodeCommand::Join(boot, reply) => match s.join(now, boot) {
                Ok(()) if s.node().is_active() => reply.send(Ok(())),
                Ok(()) => self.joins.push(reply),
                Err(e) => reply.send(Err(Error::Command(e))),
            },
            NodeCommand::Route(key, app, payload, reply) => {
                reply.send(
                    s.route(now, key, app, &payload, None)
                        .map_err(Error::Command),
                );
            }
            NodeCommand::Put(key, version, value, reply) => {
                match s.put(now, key, version, &value) {
                    Ok(op) => drop(self.ops.insert(op, Waiting::Put(reply))),
                    Err(e) => reply.send(Err(Error::Dht(e))),
                }
            }
            NodeCommand::PutContent(value, reply) => match s.put_content(now, &value) {
                Ok((key, op)) => drop(self.ops.insert(op, Waiting::PutContent(key, reply))),
                Err(e) => reply.send(Err(Error::Dht(e))),
            },
            NodeCommand::Get(key, content, reply) => {
                let op = if content {
                    s.get_content(now, key)
                } else {
                    s.get(now, key)
                };
                match op {
                    Ok(op) => drop(self.ops.insert(op, Waiting::Get(reply))),
                    Err(e) => reply.send(Err(Error::Dht(e))),
                }
            }
            NodeCommand::Subscribe(group, reply) => match s.subscribe(now, group) {
                Ok(()) if s.scribe().group(group).is_some_and(|g| g.attached()) => {
                    reply.send(Ok(()))
                }
                Ok(()) => self.subscribes.entry(group).or_default().push(reply),
                Err(e) => reply.send(Err(Error::Scribe(e))),
            },
            NodeCommand::Unsubscribe(group, reply) => {
                self.subscribes.remove(&group);
                reply.send(s.unsubscribe(now, group).map_err(Error::Scribe));
            }
            NodeCommand::Publish(group, data, reply) => {
                reply.send(s.publish(now, group, &data).map_err(Error::Scribe));
            }
            NodeCommand::Anycast(group, data, reply) => match s.anycast(now, group, &data) {
                Ok(op) => drop(self.anycasts.insert(op, reply)),
                Err(e) => reply.send(Err(Error::Scribe(e))),
            },
            NodeCommand::Policy(app, policy, reply) => {
                let r = s.node_mut().policy_mut().set(app, policy);
                reply.send(r.map_err(Error::Command));
            }
            NodeCommand::Inspect(read) => read(&self.stack),
            NodeCommand::Stats(reply) => reply.send(Ok(Stats {
                node: self.stack.node().stats().clone(),
                dht: *self.stack.dht().stats(),
                scribe: *self.stack.scribe().stats(),
                runtime: self.stats,
            })),
            NodeCommand::Shutdown(reply) => return Some((true, reply)),
            NodeCommand::Crash(reply) => return Some((false, reply)),
        }
        None
    }

    /// Stops the node: with `leave`, it tells its leaf set and sends what
    /// is queued (as far as the socket takes it now). Callers still
    /// waiting hear Stopped as their replies drop with the slot.
    pub(crate) fn stop(mut self, now: Instant, leave: bool) {
        if leave {
            let _ = self.stack.leave(now);
            self.drain();
        }
    }

    fn outcome(&mut self, o: Outcome) {
        match o {
            Outcome::Event(NodeEvent::Joined) => {
                for r in self.joins.drain(..) {
                    r.send(Ok(()));
                }
                self.emit(NodeEvent::Joined);
            }
            Outcome::Event(NodeEvent::JoinFailed) => {
                for r in self.joins.drain(..) {
                    r.send(Err(Error::JoinFailed));
                }
                self.emit(NodeEvent::JoinFailed);
            }
            Outcome::Event(NodeEvent::Attached { group }) => {
                for r in self.subscribes.remove(&group).unwrap_or_default() {
                    r.send(Ok(()));
                }
                self.emit(NodeEvent::Attached { group });
            }
            Outcome::Event(ev) => self.emit(ev),
            Outcome::Stored(op, replicas) => match self.ops.remove(&op) {
                Some(Waiting::Put(r)) => r.send(Ok(replicas)),
                Some(Waiting::PutContent(key, r)) => r.send(Ok((key, replicas))),
                Some(w) => fail(w, Error::TimedOut),
                None => {}
            },
            Outcome::Failed(op, e) => {
                if let Some(w) = self.ops.remove(&op) {
                    fail(w, e);
                }
            }
            Outcome::Found(op, value) => match self.ops.remove(&op) {
                Some(Waiting::Get(r)) => r.send(Ok(value)),
                Some(w) => fail(w, Error::TimedOut),
                None => {}
            },
            Outcome::Anycast(op, answer) => {
                if let Some(r) = self.anycasts.remove(&op) {
                    r.send(answer);
                }
            }
        }
    }
}

fn fail(w: Waiting, e: Error) {
    match w {
        Waiting::Put(r) => r.send(Err(e)),
        Waiting::PutContent(_, r) => r.send(Err(e)),
        Waiting::Get(r) => r.send(Err(e)),
    }
}

/// A stack event, owned and sorted by who waits for it.
enum Outcome {
    Event(NodeEvent),
    Stored(OpId, u8),
    Failed(OpId, Error),
    /// A get's answer: the value, or none.
    Found(OpId, Option<Value>),
    Anycast(AnycastId, Result<Peer, Error>),
}

impl Outcome {
    fn of(ev: StackEvent<'_>) -> Outcome {
        match ev {
            StackEvent::Overlay(e) => Outcome::Event(match e {
                Event::Joined => NodeEvent::Joined,
                Event::JoinFailed => NodeEvent::JoinFailed,
                Event::Deliver(d) => NodeEvent::Deliver {
                    key: d.key,
                    app: d.app,
                    source: d.source,
                    msg_id: d.msg_id,
                    hops: d.hops,
                    payload: d.payload.to_vec(),
                },
                Event::Update { peer, joined } => NodeEvent::Neighbour { peer, joined },
                Event::RouteFailed { msg_id, key, app } => {
                    NodeEvent::RouteFailed { msg_id, key, app }
                }
            }),
            StackEvent::Dht(d) => match d {
                DhtEvent::Stored { op, replicas, .. } => Outcome::Stored(op, replicas),
                DhtEvent::PutFailed { op, error, .. } => Outcome::Failed(op, Error::Put(error)),
                DhtEvent::Found {
                    op,
                    version,
                    cached,
                    value,
                    ..
                } => Outcome::Found(
                    op,
                    Some(Value {
                        version,
                        cached,
                        bytes: value.to_vec(),
                    }),
                ),
                DhtEvent::NotFound { op, .. } => Outcome::Found(op, None),
                DhtEvent::GetTimedOut { op, .. } => Outcome::Failed(op, Error::TimedOut),
            },
            StackEvent::Scribe(s) => match s {
                ScribeEvent::Attached { group } => Outcome::Event(NodeEvent::Attached { group }),
                ScribeEvent::Delivered { group, id, data } => {
                    Outcome::Event(NodeEvent::Multicast {
                        group,
                        id,
                        data: data.to_vec(),
                    })
                }
                ScribeEvent::AnycastAccepted { op, by, .. } => Outcome::Anycast(op, Ok(by)),
                ScribeEvent::AnycastFailed { op, error, .. } => {
                    Outcome::Anycast(op, Err(Error::Anycast(error)))
                }
            },
        }
    }
}
