//! The node's task: one UDP socket, one core [`Stack`], one timer. It
//! waits for the socket, the core's deadline or a command; reads the clock
//! once per wake-up; feeds the core; drains its one output door until it
//! answers with a deadline; and sends, keeping the one datagram whose
//! send would block. No protocol logic lives here (DESIGN.md, "Runtimes").

use std::io;
use std::net::SocketAddr;

use pastry_core::Instant;
use pastry_core::stack::runtime::{self, RuntimeStack, RuntimeStats, Stats, Step, WallClock};
use pastry_core::stack::waiters::{NodeEvent, Waiters};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant as Clock;

use crate::handle::{Command, Reply};
use crate::impair::Impaired;

/// Datagrams read per wake-up before the node's other work gets a turn.
const MAX_READS: usize = 64;
/// Commands taken per wake-up.
const MAX_COMMANDS: usize = 64;

pub(crate) struct Driver {
    // Dropped first: the socket is closed before the command queue, so a
    // caller that saw the queue close knows the port is free.
    socket: UdpSocket,
    stack: Box<RuntimeStack>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NodeEvent>,
    origin: Clock,
    /// Datagram buffers: one read, one being encoded.
    inbound: Vec<u8>,
    outbound: Vec<u8>,
    /// A datagram whose send would block: (destination, length in
    /// `outbound`). Nothing more is polled from the core until it goes.
    blocked: Option<(SocketAddr, usize)>,
    /// The core's deadline, as the last drain ended on it.
    deadline: Option<Instant>,
    /// Callers waiting for outcomes.
    waiters: Waiters,
    stats: RuntimeStats,
    /// Keeps the node told of the calendar, for certificates.
    wall: WallClock,
    /// A testbed's delay and loss on what is sent.
    impaired: Option<Impaired>,
}

impl Driver {
    pub(crate) fn new(
        socket: UdpSocket,
        stack: Box<RuntimeStack>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NodeEvent>,
        impaired: Option<Impaired>,
    ) -> Driver {
        let max = stack.node().config().max_datagram;
        let deadline = stack.poll_timeout();
        Driver {
            socket,
            stack,
            commands,
            events,
            origin: Clock::now(),
            // One byte more than the core accepts, so an oversized datagram
            // is seen as such (and counted) rather than truncated.
            inbound: vec![0; max + 1],
            outbound: vec![0; max],
            blocked: None,
            deadline,
            waiters: Waiters::default(),
            stats: RuntimeStats::default(),
            wall: WallClock::default(),
            impaired,
        }
    }

    /// The core's clock: microseconds since the task started.
    fn now(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    fn deadline(&self) -> Option<Clock> {
        let at = self.deadline?;
        Some(self.origin + std::time::Duration::from_micros(at.as_micros()))
    }

    pub(crate) async fn run(mut self) {
        loop {
            let held = self.impaired.as_ref().and_then(Impaired::next_due);
            let deadline = match (self.deadline(), held) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let blocked = self.blocked.is_some();
            let mut first = None;
            let mut readable = false;
            tokio::select! {
                biased;
                c = self.commands.recv() => match c {
                    Some(c) => first = Some(c),
                    // Every handle is gone: nobody can use the node.
                    None => return self.stop(None).await,
                },
                r = self.socket.readable() => readable = r.is_ok(),
                _ = self.socket.writable(), if blocked => {}
                () = sleep => {}
            }
            self.stats.wakeups += 1;
            self.send_held();
            let now = self.now();
            self.wall.tell(&mut self.stack, now);
            if readable {
                self.read(now);
            }
            for _ in 0..MAX_COMMANDS {
                let c = match first.take() {
                    Some(c) => c,
                    None => match self.commands.try_recv() {
                        Ok(c) => c,
                        Err(_) => break,
                    },
                };
                match c {
                    Command::Shutdown(reply) => return self.stop(Some(reply)).await,
                    Command::Crash(reply) => {
                        // Nothing more is sent; the socket closes with the
                        // driver, before the caller hears back.
                        drop(self);
                        let _ = reply.send(Ok(()));
                        return;
                    }
                    c => self.command(now, c),
                }
            }
            // The clock decides, not the timer (a wake-up may be early, or
            // late and for something else).
            if self.stack.poll_timeout().is_some_and(|t| t <= now) {
                self.stack.handle_timeout(now);
            }
            self.drain();
        }
    }

    /// Reads until the socket would block or the cap is reached, draining
    /// after each datagram (the drain rule): the core's queues are sized
    /// for one input's output, and a handshake's answers for 8 at once;
    /// 64 Hellos fed before one drain lost 56 to retries, which made a
    /// crowd joining through one node wait seconds. Stops while the
    /// socket is full.
    fn read(&mut self, now: Instant) {
        for _ in 0..MAX_READS {
            if self.blocked.is_some() {
                return;
            }
            match self.socket.try_recv_from(&mut self.inbound) {
                Ok((len, from)) => {
                    self.stats.datagrams_in += 1;
                    self.stats.bytes_in += len as u64;
                    self.stack.handle_datagram(now, from, &self.inbound[..len]);
                    self.drain();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP port unreachable and the like surface here on some
                // systems; they say nothing the overlay does not learn.
                Err(_) => self.stats.recv_errors += 1,
            }
        }
    }

    /// Sends what an impairment held back and is now due.
    fn send_held(&mut self) {
        let Some(imp) = self.impaired.as_mut() else {
            return;
        };
        let now = Clock::now();
        while let Some((to, bytes)) = imp.pop_due(now) {
            // A full socket loses it: one more loss on an impaired link.
            if self.socket.try_send_to(&bytes, to).is_ok() {
                self.stats.datagrams_out += 1;
                self.stats.bytes_out += bytes.len() as u64;
            }
        }
    }

    /// Sends the held datagram; whether the way is clear.
    fn unblock(&mut self) -> bool {
        let Some((to, len)) = self.blocked else {
            return true;
        };
        match self.socket.try_send_to(&self.outbound[..len], to) {
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
    /// nothing left (or the socket is full), sending datagrams and passing
    /// events on.
    fn drain(&mut self) {
        while self.unblock() {
            let now = self.now();
            let step = runtime::step(&mut self.stack, &mut self.waiters, now, &mut self.outbound);
            match step.expect("a max_datagram buffer fits every datagram") {
                Step::Send(to, len) => match self.impaired.as_mut() {
                    Some(imp) => imp.take(Clock::now(), to, &self.outbound[..len]),
                    None => self.blocked = Some((to, len)),
                },
                Step::Tell(ev) => self.log_and_emit(ev),
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
        match self.events.try_send(ev) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.stats.events_dropped += 1,
            // Nobody reads events: that is the application's choice.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn command(&mut self, now: Instant, c: Command) {
        match c {
            Command::Stack(c) => self.waiters.command(&mut self.stack, now, c),
            Command::Inspect(read) => read(&self.stack),
            Command::App(call) => call(&mut self.stack, now),
            Command::Stats(reply) => {
                let _ = reply.send(Ok(Stats::of(&self.stack, self.stats)));
            }
            Command::Shutdown(_) | Command::Crash(_) => unreachable!("handled by the loop"),
        }
    }

    fn log_and_emit(&mut self, ev: NodeEvent) {
        // The task's span names the node.
        match &ev {
            NodeEvent::Joined => tracing::info!("joined the overlay"),
            NodeEvent::JoinFailed => tracing::warn!("the join got no answer"),
            NodeEvent::Neighbour { peer, joined } => {
                tracing::debug!(?peer, joined, "leaf set changed");
            }
            _ => {}
        }
        self.emit(ev);
    }

    /// Leaves the overlay, sends what is queued (as far as the socket takes
    /// it without blocking for long), and ends the task. Pending callers
    /// get [`Error::Stopped`] as their senders drop with the driver.
    async fn stop(mut self, reply: Option<Reply<()>>) {
        tracing::info!("leaving the overlay");
        let now = self.now();
        let _ = self.stack.leave(now);
        self.drain();
        // A full socket buffer gets a short grace to take the leave notices.
        let grace = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
        while self.blocked.is_some() && tokio::time::Instant::now() < grace {
            let _ = tokio::time::timeout_at(grace, self.socket.writable()).await;
            self.drain();
        }
        // The socket closes with the driver, before the caller hears back:
        // a returned shutdown means the port is free.
        drop(self);
        if let Some(r) = reply {
            let _ = r.send(Ok(()));
        }
    }
}
