//! # pastry-tokio
//!
//! The tokio runtime for [`pastry_core`]: each node is one task that owns a
//! UDP socket, a clock and a core [`Stack`](pastry_core::Stack) (the
//! overlay with its DHT and Scribe), and does only what a sans-IO core
//! asks of its runtime: wait for a datagram, the core's deadline or a
//! command; read the clock once; feed the core; drain its transmits and
//! events; send. The protocol is all in the core, so a node here behaves
//! bit for bit as in the simulator given the same inputs.
//!
//! The application talks to the task through a [`Handle`] (async commands,
//! each answered with a value or a typed [`Error`], never a hang) and reads
//! [`Events`] (deliveries, multicast data, neighbour changes).
//!
//! ## Two nodes on loopback
//!
//! ```
//! use pastry_core::{AppId, Id};
//! use pastry_tokio::{Builder, NodeEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), pastry_tokio::Error> {
//! let loopback = "127.0.0.1:0".parse().unwrap();
//! let (a, _) = Builder::new(loopback).spawn().await?;
//! let (b, mut b_events) = Builder::new(loopback).spawn().await?;
//! a.join(None).await?; // a starts the overlay
//! b.join(Some(a.own().addr)).await?; // b joins through a
//!
//! // Route to b's own id: b is the root, so b gets it.
//! a.route(b.own().id, AppId(7), &b"hello"[..]).await?;
//! loop {
//!     if let Some(NodeEvent::Deliver { payload, .. }) = b_events.recv().await {
//!         assert_eq!(&payload[..], b"hello");
//!         break;
//!     }
//! }
//!
//! // Store a value on the replica set; read it back from the other node.
//! let key = Id::sha1(b"greeting");
//! a.put(key, 1, &b"hi"[..]).await?;
//! assert_eq!(&b.get(key).await?.unwrap().bytes[..], b"hi");
//!
//! a.shutdown().await?;
//! b.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! See the `cluster` example for a whole overlay in one process, and the
//! README for the `pastry-node` command line.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The README's Rust example runs as a doctest, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;

mod client;
mod driver;
mod handle;

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::time::Duration;

use pastry_core::Id;
use pastry_core::node::Forwarder;
use pastry_core::stack::StackConfig;
use pastry_core::stack::runtime::{Accept, Hop, Hosted, Options};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use client::{Client, Publication};
pub use handle::{Events, Handle};
pub use pastry_core::stack::runtime::{
    AcceptFn, Error, HostedApp, RuntimeStack as TokioStack, RuntimeStats, Stats,
};
pub use pastry_core::stack::waiters::{NodeEvent, Value};

/// Builds and starts one node.
#[derive(Debug)]
pub struct Builder {
    options: Options,
    commands: usize,
}

impl Builder {
    /// A node that will listen on `listen` (port 0: any free port), with
    /// the papers' settings, a random id, 1,024 events of buffer and a
    /// 30-second wait for a subscribe to attach.
    pub fn new(listen: SocketAddr) -> Builder {
        Builder {
            options: Options::new(listen),
            commands: 256,
        }
    }

    /// The overlay's, the DHT's and Scribe's settings.
    pub fn config(mut self, config: StackConfig) -> Builder {
        self.options.config = config;
        self
    }

    /// The address other nodes reach this one at, when it is not the bound
    /// one (a wildcard bind, or a NAT with a known mapping).
    pub fn advertise(mut self, addr: SocketAddr) -> Builder {
        self.options.advertise = Some(addr);
        self
    }

    /// The node's id (random by default).
    pub fn id(mut self, id: Id) -> Builder {
        self.options.id = Some(id);
        self
    }

    /// The seed of the core's randomness (random by default); with the same
    /// seed and inputs the core decides the same.
    pub fn seed(mut self, seed: u64) -> Builder {
        self.options.seed = Some(seed);
        self
    }

    /// The application's per-hop upcall (KBR `forward`).
    pub fn forwarder(mut self, f: impl Forwarder + Send + 'static) -> Builder {
        self.options.hop = Hop(Some(Box::new(f)));
        self
    }

    /// Which anycasts this member takes (all, by default).
    pub fn acceptor(mut self, f: impl FnMut(Id, &[u8]) -> bool + Send + 'static) -> Builder {
        self.options.accept = Accept(Some(Box::new(f)));
        self
    }

    /// An application of the user's, beside the DHT and Scribe: it gets
    /// the node's events after them and its own timers; reach it with
    /// [`Handle::app`], and read its events as [`NodeEvent::App`].
    pub fn app(mut self, app: impl HostedApp) -> Builder {
        self.options.app = Hosted::new(app);
        self
    }

    /// Events kept for the application before newer ones are dropped.
    pub fn event_capacity(mut self, n: usize) -> Builder {
        self.options.events = n.max(1);
        self
    }

    /// Commands queued for the task before callers wait.
    pub fn command_capacity(mut self, n: usize) -> Builder {
        self.commands = n.max(1);
        self
    }

    /// How long [`Handle::subscribe`] waits for the member to attach.
    pub fn attach_timeout(mut self, d: Duration) -> Builder {
        self.options.attach_timeout = d;
        self
    }

    /// Binds the socket and starts the node's task on the current tokio
    /// runtime. The node is idle until [`Handle::join`].
    pub async fn spawn(self) -> Result<(Handle, Events), Error> {
        let socket = UdpSocket::bind(self.options.listen).await?;
        let (events, attach_timeout) = (self.options.events, self.options.attach_timeout);
        let random = |addr| RandomState::new().hash_one(addr);
        let stack = self.options.build(socket.local_addr()?, random)?;
        let own = stack.own();
        let (ctx, crx) = mpsc::channel(self.commands);
        let (etx, erx) = mpsc::channel(events);
        tokio::spawn(driver::Driver::new(socket, stack, crx, etx).run());
        let handle = Handle {
            commands: ctx,
            own,
            attach_timeout,
        };
        Ok((handle, Events { rx: erx }))
    }
}
