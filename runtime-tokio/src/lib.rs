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
//! use pastry_tokio::{AppId, Builder, Id, NodeEvent};
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
//! The crate re-exports what a user names most (ids, settings, the
//! per-hop upcall) and the whole core as [`pastry_core`], so it is the
//! one dependency a tokio application needs. See the `cluster` example
//! for a whole overlay in one process, `pastry-store` for values that
//! survive a restart, and the `pastry-node` crate for the command line.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The README's Rust example runs as a doctest, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExample;

mod client;
mod driver;
mod handle;
mod impair;

use std::net::SocketAddr;

use pastry_core::stack::runtime::Options;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub use client::{Client, Publication, Publications};
pub use handle::{Events, Handle};
pub use impair::Impairment;
pub use pastry_core::stack::runtime::{
    AcceptFn, Error, HostedApp, RuntimeStack as TokioStack, RuntimeStats, Stats,
};
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

/// Builds and starts one node.
#[derive(Debug)]
pub struct Builder {
    options: Options,
    commands: usize,
    impairment: Option<Impairment>,
}

impl Builder {
    /// A node that will listen on `listen` (port 0: any free port), with
    /// the papers' settings, a random id, 1,024 events of buffer and a
    /// 30-second wait for a subscribe to attach.
    pub fn new(listen: SocketAddr) -> Builder {
        Builder {
            options: Options::new(listen),
            commands: 256,
            impairment: None,
        }
    }

    pastry_core::runtime_builder_options!();

    /// Commands queued for the task before callers wait.
    pub fn command_capacity(mut self, n: usize) -> Builder {
        self.commands = n.max(1);
        self
    }

    /// For testbeds: delays every datagram the node sends and drops a
    /// fraction, where the kernel's netem is not available. Not for
    /// production: it holds up to 8,192 datagrams in memory.
    pub fn impairment(mut self, how: Impairment) -> Builder {
        self.impairment = Some(how);
        self
    }

    /// Binds the socket and starts the node's task on the current tokio
    /// runtime. The node is idle until [`Handle::join`].
    pub async fn spawn(self) -> Result<(Handle, Events), Error> {
        let socket = UdpSocket::bind(self.options.listen).await?;
        let (events, attach_timeout) = (self.options.events, self.options.attach_timeout);
        let random = |buf: &mut [u8]| getrandom::fill(buf).map_err(std::io::Error::other);
        let stack = self.options.build(socket.local_addr()?, random)?;
        let own = stack.own();
        let (ctx, crx) = mpsc::channel(self.commands);
        let (etx, erx) = mpsc::channel(events);
        // Every log line of the node's task carries its id.
        let span = tracing::info_span!("node", id = %own.id);
        let impaired = self.impairment.map(impair::Impaired::new);
        let driver = driver::Driver::new(socket, stack, crx, etx, impaired).run();
        tokio::spawn(tracing::Instrument::instrument(driver, span));
        let handle = Handle {
            commands: ctx,
            own,
            attach_timeout,
        };
        Ok((handle, Events { rx: erx }))
    }
}
