//! The event loop: one thread, one `mio::Poll`, every node's socket and
//! core stack. It sleeps until a socket is ready, the earliest deadline of
//! any node, or a command (the mailbox's waker); reads the clock once;
//! reads each ready socket until it would block (readiness is
//! edge-triggered) up to a cap; runs commands (capped); ticks the nodes
//! whose deadline passed; drains them; and goes back to sleep — at once if
//! a cap left work behind.

use std::io;
use std::time::Duration;

use mio::{Events, Interest, Poll, Token, Waker};
use pastry_core::Instant;

use crate::mailbox::{Receiver, ReplyTx, Wake};
use crate::node::{NodeCommand, NodeSlot};
use pastry_core::stack::runtime::Error;

/// The mailbox's waker token (nodes use their index).
pub(crate) const WAKER: Token = Token(usize::MAX);
/// Commands taken per wake-up.
const MAX_COMMANDS: usize = 256;

/// A command for the loop.
pub(crate) enum Command {
    /// Starts running a node; answers its index.
    Add(Box<NodeSlot>, ReplyTx<Result<usize, Error>>),
    /// A command for the node at this index.
    Node(usize, NodeCommand),
    /// Every node leaves; the loop ends.
    Stop(ReplyTx<Result<(), Error>>),
}

/// The mailbox's waker: a `mio::Waker` on the loop's poll.
pub(crate) struct MioWake(pub(crate) Waker);

impl Wake for MioWake {
    fn wake(&self) {
        // Fails only if the poll is gone, when nobody needs waking.
        let _ = self.0.wake();
    }
}

pub(crate) struct EventLoop {
    poll: Poll,
    mailbox: Receiver<Command>,
    nodes: Vec<Option<Box<NodeSlot>>>,
    origin: std::time::Instant,
}

impl EventLoop {
    pub(crate) fn new(poll: Poll, mailbox: Receiver<Command>) -> EventLoop {
        EventLoop {
            poll,
            mailbox,
            nodes: Vec::new(),
            origin: std::time::Instant::now(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    /// How long the poll may sleep: until the earliest deadline.
    fn sleep(&self, now: Instant, busy: bool) -> Option<Duration> {
        if busy {
            return Some(Duration::ZERO);
        }
        let next = self
            .nodes
            .iter()
            .flatten()
            .filter_map(|n| n.deadline())
            .min()?;
        Some(next.saturating_duration_since(now))
    }

    pub(crate) fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut busy = false;
        loop {
            let now = self.now();
            let timeout = self.sleep(now, busy);
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The poller itself failed: nothing can be served.
                Err(_) => return self.stop_all(None),
            }
            busy = false;
            let now = self.now();
            for n in self.nodes.iter_mut().flatten() {
                n.tell_wall_time(now);
            }
            for ev in events.iter() {
                let Token(i) = ev.token();
                if ev.is_readable()
                    && let Some(Some(n)) = self.nodes.get_mut(i)
                {
                    n.readable = true;
                }
            }
            for i in 0..self.nodes.len() {
                if let Some(n) = self.nodes[i].as_mut().filter(|n| n.readable) {
                    busy |= n.read(now);
                }
            }
            let mut commands = Vec::new();
            busy |= self.mailbox.drain(MAX_COMMANDS, |c| commands.push(c));
            for c in commands {
                match c {
                    Command::Add(slot, reply) => reply.send(self.add(slot)),
                    Command::Node(i, c) => self.node_command(now, i, c),
                    Command::Stop(reply) => return self.stop_all(Some(reply)),
                }
            }
            for n in self.nodes.iter_mut().flatten() {
                n.tick(now);
                n.drain(now);
            }
        }
    }

    /// Indices are never reused: a handle (or a late readiness event) of a
    /// stopped node can never reach a node started after it. A stopped
    /// node leaves only an empty entry behind.
    fn add(&mut self, mut slot: Box<NodeSlot>) -> Result<usize, Error> {
        let i = self.nodes.len();
        self.poll.registry().register(
            &mut slot.socket,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.nodes.push(Some(slot));
        Ok(i)
    }

    fn node_command(&mut self, now: Instant, i: usize, c: NodeCommand) {
        let Some(n) = self.nodes.get_mut(i).and_then(Option::as_mut) else {
            // A node that stopped: its replies drop unanswered (Stopped).
            return;
        };
        if let Some((leave, reply)) = n.command(now, c) {
            if let Some(mut slot) = self.nodes[i].take() {
                let _ = self.poll.registry().deregister(&mut slot.socket);
                slot.stop(now, leave);
            }
            reply.send(Ok(()));
        }
    }

    /// Every node leaves (best effort), the mailbox closes, and every
    /// caller still waiting hears Stopped.
    fn stop_all(mut self, reply: Option<ReplyTx<Result<(), Error>>>) {
        let now = self.now();
        for slot in self.nodes.iter_mut().filter_map(Option::take) {
            slot.stop(now, true);
        }
        drop(self.mailbox.close());
        if let Some(r) = reply {
            r.send(Ok(()));
        }
    }
}
