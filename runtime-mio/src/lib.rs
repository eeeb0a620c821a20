//! # pastry-mio
//!
//! The mio event-loop runtime for [`pastry_core`], for applications that
//! want no async: one thread runs an event loop for one or more nodes,
//! each a core [`Stack`](pastry_core::Stack) (the overlay with its DHT and
//! Scribe) on its own UDP socket. The loop does only what a sans-IO core
//! asks: sleep until a socket is ready, the earliest deadline or a
//! command; read the clock once; feed the cores; drain; send. The protocol
//! is all in the core.
//!
//! Applications talk to a node through a blocking [`Handle`]
//! (`Clone + Send + Sync`; every call answers a value or a typed
//! [`Error`] within its time limit) and read its events from a bounded
//! channel. Commands reach the loop through [`mailbox`], a small queue
//! with a wake-up that knows nothing of the protocol and is model-checked
//! with loom.
//!
//! ## Two nodes on one loop
//!
//! ```
//! use pastry_core::Id;
//! use pastry_mio::{Builder, Runtime};
//!
//! let rt = Runtime::start()?;
//! let loopback = "127.0.0.1:0".parse().unwrap();
//! let (a, _) = rt.spawn(Builder::new(loopback))?;
//! let (b, _) = rt.spawn(Builder::new(loopback))?;
//! a.join(None)?;
//! b.join(Some(a.own().addr))?;
//!
//! let key = Id::sha1(b"greeting");
//! a.put(key, 1, b"hi")?;
//! assert_eq!(b.get(key)?.unwrap().bytes, b"hi");
//! rt.shutdown()?;
//! # Ok::<(), pastry_mio::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod event_loop;
mod handle;
pub mod mailbox;
mod node;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Poll, Waker};
use pastry_core::stack::runtime::Options;

use event_loop::{Command, EventLoop, MioWake, WAKER};
use mailbox::{SendError, Sender};
use node::NodeSlot;

pub use client::{Client, Publication};
pub use handle::Handle;
pub use node::MioStack;
pub use pastry_core::stack::runtime::{AcceptFn, Error, HostedApp, RuntimeStats, Stats};
pub use pastry_core::stack::waiters::{NodeEvent, Value};

/// The core this runtime runs: the whole protocol API, for what the
/// re-exports here leave out.
pub use pastry_core;
/// What a user of this crate names most: ids, application ids, peers,
/// settings, identities and the per-hop upcall.
pub use pastry_core::{
    AppId, Config, Id, NodeSet, Peer, StackConfig,
    dht::{DhtConfig, Store},
    identity::{Admission, Identity, Keypair},
    node::{AppPolicy, ForwardHop, Forwarder, Verdict},
    scribe::{ScribeConfig, group_id},
};

/// Commands the loop's mailbox holds before callers get Busy.
const MAILBOX: usize = 4096;

/// An event loop on its own thread. Dropping it stops every node (each
/// leaves the overlay) and joins the thread.
#[derive(Debug)]
pub struct Runtime {
    mailbox: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl Runtime {
    /// Starts the loop's thread, with no nodes yet.
    pub fn start() -> Result<Runtime, Error> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (tx, rx) = mailbox::mailbox(MAILBOX, Box::new(MioWake(waker)));
        let thread = std::thread::Builder::new()
            .name("pastry-mio".into())
            .spawn(move || EventLoop::new(poll, rx).run())?;
        Ok(Runtime {
            mailbox: tx,
            thread: Some(thread),
        })
    }

    /// Binds a node's socket and runs the node on this loop; it is idle
    /// until [`Handle::join`]. Its events arrive on the receiver.
    pub fn spawn(&self, b: Builder) -> Result<(Handle, mpsc::Receiver<NodeEvent>), Error> {
        let socket = std::net::UdpSocket::bind(b.options.listen)?;
        socket.set_nonblocking(true)?;
        let (events, attach_timeout) = (b.options.events, b.options.attach_timeout);
        let random = |buf: &mut [u8]| getrandom::fill(buf).map_err(std::io::Error::other);
        let stack = b.options.build(socket.local_addr()?, random)?;
        let own = stack.own();
        let (etx, erx) = mpsc::sync_channel(events);
        let slot = Box::new(NodeSlot::new(
            mio::net::UdpSocket::from_std(socket),
            stack,
            etx,
        ));
        let (tx, rx) = mailbox::reply();
        self.send(Command::Add(slot, tx))?;
        let index = rx.wait_timeout(b.timeout).map_err(|_| Error::Stopped)??;
        let handle = Handle {
            mailbox: self.mailbox.clone(),
            index,
            own,
            timeout: b.timeout,
            attach_timeout,
        };
        Ok((handle, erx))
    }

    fn send(&self, c: Command) -> Result<(), Error> {
        self.mailbox.send(c).map_err(|e| match e {
            SendError::Full(_) => Error::Busy,
            SendError::Closed(_) => Error::Stopped,
        })
    }

    /// Every node leaves the overlay; the loop ends and its thread is
    /// joined. Handles answer Stopped afterwards.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let (tx, rx) = mailbox::reply();
        let sent = self.send(Command::Stop(tx));
        if sent.is_ok() {
            let _ = rx.wait_timeout(Duration::from_secs(10));
        }
        thread.join().map_err(|_| Error::Stopped)?;
        sent
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Settings for one node.
#[derive(Debug)]
pub struct Builder {
    options: Options,
    timeout: Duration,
}

impl Builder {
    /// A node listening on `listen` (port 0: any free port) with the
    /// papers' settings, a random id, 1,024 events of buffer, a 60-second
    /// limit on each call and 30 seconds for a subscribe to attach.
    pub fn new(listen: SocketAddr) -> Builder {
        Builder {
            options: Options::new(listen),
            timeout: Duration::from_secs(60),
        }
    }

    pastry_core::runtime_builder_options!();

    /// The longest any handle call waits for its answer.
    pub fn timeout(mut self, d: Duration) -> Builder {
        self.timeout = d;
        self
    }
}
