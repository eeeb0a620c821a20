//! One node inside the event loop: its socket, its core stack, the
//! datagram kept when a send would block, and the callers waiting for
//! outcomes. No protocol logic: commands go to the stack, outcomes go to
//! whoever waits for them.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{SyncSender, TrySendError};

use mio::net::UdpSocket;
use pastry_core::Instant;
use pastry_core::stack::runtime::{
    self, Error, RuntimeStack, RuntimeStats, Stats, Step, WallClock,
};
use pastry_core::stack::waiters::{self, NodeEvent, Waiters};

use crate::mailbox::ReplyTx;

/// The core stack a mio node runs (the same as a tokio node's).
pub type MioStack = RuntimeStack;

/// How a command's answer travels back.
pub(crate) type Reply<T> = ReplyTx<Result<T, Error>>;

/// A read of the node's state, run on the loop's thread.
pub(crate) type Inspect = Box<dyn FnOnce(&MioStack) + Send>;

/// A call into the hosted application, run on the loop's thread at the
/// given time (the node is drained after it).
pub(crate) type AppCall = Box<dyn FnOnce(&mut MioStack, Instant) + Send>;

/// A command for one node.
pub(crate) enum NodeCommand {
    /// A command of the stack, answered through the waiters.
    Stack(waiters::Command),
    Inspect(Inspect),
    App(AppCall),
    Stats(Reply<Stats>),
    Shutdown(Reply<()>),
    Crash(Reply<()>),
}

/// Datagrams read per node per wake-up.
pub(crate) const MAX_READS: usize = 64;

pub(crate) struct NodeSlot {
    pub(crate) socket: UdpSocket,
    stack: Box<MioStack>,
    events: SyncSender<NodeEvent>,
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    blocked: Option<(SocketAddr, usize)>,
    /// The core's deadline, as the last drain ended on it.
    deadline: Option<Instant>,
    /// Readiness not yet used up (edge-triggered: mio says it once).
    pub(crate) readable: bool,
    /// Callers waiting for outcomes.
    waiters: Waiters,
    stats: RuntimeStats,
    /// Keeps the node told of the calendar, for certificates.
    wall: WallClock,
}

impl NodeSlot {
    pub(crate) fn new(
        socket: UdpSocket,
        stack: Box<MioStack>,
        events: SyncSender<NodeEvent>,
    ) -> Self {
        let max = stack.node().config().max_datagram;
        let deadline = stack.poll_timeout();
        NodeSlot {
            socket,
            stack,
            events,
            // One byte more than the core takes: an oversized datagram is
            // seen (and counted) rather than cut.
            inbound: vec![0; max + 1],
            outbound: vec![0; max],
            blocked: None,
            deadline,
            readable: true,
            waiters: Waiters::default(),
            stats: RuntimeStats::default(),
            wall: WallClock::default(),
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Reads until the socket would block (the readiness is used up) or the
    /// cap, draining after each datagram (the drain rule: the core's
    /// queues hold one input's output; a handshake's answers 8 at once);
    /// whether readiness is left. Stops while the socket is full.
    pub(crate) fn read(&mut self, now: Instant) -> bool {
        for _ in 0..MAX_READS {
            if self.blocked.is_some() {
                return true;
            }
            match self.socket.recv_from(&mut self.inbound) {
                Ok((len, from)) => {
                    self.stats.datagrams_in += 1;
                    self.stats.bytes_in += len as u64;
                    self.stack.handle_datagram(now, from, &self.inbound[..len]);
                    self.drain(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return false;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "receive failed");
                    self.stats.recv_errors += 1;
                }
            }
        }
        true
    }

    /// Tells the node the wall time, when a minute has passed.
    pub(crate) fn tell_wall_time(&mut self, now: Instant) {
        self.wall.tell(&mut self.stack, now);
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
            Ok(_) => {
                self.stats.datagrams_out += 1;
                self.stats.bytes_out += len as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.stats.send_blocked += 1;
                return false;
            }
            Err(e) => {
                tracing::debug!(%to, error = %e, "send failed");
                self.stats.send_errors += 1;
            }
        }
        self.blocked = None;
        true
    }

    /// The drain rule: poll the core's one output door until it has
    /// nothing left (or the socket is full).
    pub(crate) fn drain(&mut self, now: Instant) {
        while self.unblock() {
            let step = runtime::step(&mut self.stack, &mut self.waiters, now, &mut self.outbound);
            match step.expect("a max_datagram buffer fits every datagram") {
                Step::Send(to, len) => self.blocked = Some((to, len)),
                Step::Tell(ev) => self.emit(ev),
                Step::Answered => {}
                Step::Idle(deadline) => {
                    self.deadline = deadline;
                    return;
                }
            }
        }
        // The socket is full: the drain stopped short of its deadline.
        self.deadline = self.stack.poll_timeout();
    }

    fn emit(&mut self, ev: NodeEvent) {
        let node = self.stack.own().id;
        match &ev {
            NodeEvent::Joined => tracing::info!(%node, "joined the overlay"),
            NodeEvent::JoinFailed => tracing::warn!(%node, "the join got no answer"),
            NodeEvent::Neighbour { peer, joined } => {
                tracing::debug!(%node, ?peer, joined, "leaf set changed");
            }
            _ => {}
        }
        match self.events.try_send(ev) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => self.stats.events_dropped += 1,
        }
    }

    /// Runs one command. A shutdown or crash comes back as `(leave,
    /// reply)`: the loop stops the node, then answers.
    pub(crate) fn command(&mut self, now: Instant, c: NodeCommand) -> Option<(bool, Reply<()>)> {
        match c {
            NodeCommand::Stack(c) => self.waiters.command(&mut self.stack, now, c),
            NodeCommand::Inspect(read) => read(&self.stack),
            NodeCommand::App(call) => call(&mut self.stack, now),
            NodeCommand::Stats(reply) => reply.send(Ok(Stats::of(&self.stack, self.stats))),
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
            tracing::info!(node = %self.stack.own().id, "leaving the overlay");
            let _ = self.stack.leave(now);
            self.drain(now);
        }
    }
}
