//! # pastry-core
//!
//! The protocol core of the Pastry structured peer-to-peer overlay
//! (Rowstron and Druschel, Middleware 2001), written **sans-IO**: a value that
//! never reads a clock, never touches a socket and keeps no global state.
//! Everything it knows arrives as an argument; everything it wants done
//! leaves as a return value. The same core runs on a microcontroller, under
//! the tokio and mio runtimes, inside the simulator and under the fuzzer.
//!
//! ## The contract
//!
//! * **Inputs**, each with `now` (an [`Instant`] the caller supplies): an
//!   inbound datagram `(now, from, &[u8])`, a timer tick, or an application
//!   command. A `now` earlier than the last one is treated as the last one.
//! * **Outputs**, through one door, `poll_output`: a datagram to send
//!   (encoded into a buffer the caller lends), an event for the
//!   application, or, once nothing is left, the next deadline at which the
//!   core wants a tick ([`Output`]).
//! * **Deterministic**: same configuration, same seed ([`rng::SmallRng`]),
//!   same inputs, same outputs, bit for bit.
//! * **Bounded**: every table and queue has a capacity fixed by a const
//!   generic or the [`Config`]; full queues refuse, they never grow.
//! * **Total on input**: any byte string is a valid input; what is not a
//!   message is counted and dropped ([`wire::Message::decode`] never panics).
//!
//! ## The run loop
//!
//! Written once, the same for a runtime, the simulator and a test:
//!
//! ```text
//! loop:
//!     wait for a datagram, the deadline, or a command; read the clock once (now)
//!     feed it: handle_datagram(now, from, bytes) | handle_timeout(now) | a command(now, ...)
//!     drain: loop match poll_output(&mut buf):
//!         Output::Transmit(t) => send buf[..t.len] to t.destination
//!         Output::Event(e)    => hand e to the application
//!         Output::Timeout(t)  => deadline = t; break
//! ```
//!
//! Early or repeated ticks are harmless; a tick before the deadline does
//! nothing.
//!
//! ## The parts
//!
//! [`Node`] is the state machine that speaks this contract: join (with
//! MSPastry's consistent activation), leaf-set keep-alive and eager repair,
//! lazy routing-table repair and proximity refinement, per-hop acks with
//! rerouting, end-to-end receipts (the source sends an end-node message
//! again when the node that delivers it does not answer, and that node,
//! or a node that joins beside it and takes its records, delivers a copy
//! only once), the KBR calls, and applications named on every message
//! (PROST). It is built from the pieces below it: ids and time ([`id`],
//! [`time`]), configuration ([`config`]), the leaf set and routing table
//! ([`leaf_set`], [`routing_table`]), the next-hop rule and local KBR calls
//! ([`routing`]), and the wire codec ([`wire`]). [`DefaultNode`] and
//! [`EmbeddedNode`] name its two measured capacities.
//!
//! Applications stand on one seam, [`Application`]: they get the node's
//! events, their own timers, a per-hop `forward` upcall, and use the node
//! only through the KBR calls ([`Kbr`]). [`Host`] drives a node with a set
//! of them (`()`, `(A, B)`, `Option<A>`) as one value with the same
//! doors. Built in: [`dht`], a PAST-style replicated store (k replicas on
//! the closest nodes, kept through churn, content-hash keys), [`scribe`],
//! multicast and anycast trees, and [`client`], a gateway for peers
//! outside the overlay. [`Stack`] is a host of all three plus a user
//! application, as the runtimes run it.

//! ## Three nodes on an in-memory network
//!
//! The caller owns the clock and the network. Here the network is a queue
//! and every datagram takes one millisecond; the nodes join a ring and
//! route a message to the node whose id is numerically closest to its key.
//!
//! ```
//! use core::net::SocketAddr;
//! use core::time::Duration;
//! use std::collections::VecDeque;
//! use pastry_core::identity::Keypair;
//! use pastry_core::{AppId, Config, Event, Id, Instant, Node, Output};
//!
//! /// Datagrams in flight: (to, from, bytes).
//! type Wire = VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>;
//!
//! /// The drain rule: poll the output door until it answers with a
//! /// deadline. Returns deliveries as (key, payload).
//! fn drain(node: &mut Node, wire: &mut Wire) -> Vec<(Id, Vec<u8>)> {
//!     let mut buf = [0u8; 1280]; // config.max_datagram
//!     let mut delivered = Vec::new();
//!     loop {
//!         match node.poll_output(&mut buf).unwrap() {
//!             Output::Transmit(tx) => {
//!                 wire.push_back((tx.destination, node.own().addr, buf[..tx.len].to_vec()))
//!             }
//!             Output::Event(Event::Deliver(d)) => delivered.push((d.key, d.payload.to_vec())),
//!             Output::Event(_) => {}
//!             Output::Timeout(_) => return delivered,
//!         }
//!     }
//! }
//!
//! /// Runs the network until `until`: datagrams first, then due timers.
//! fn run(nodes: &mut [Node], wire: &mut Wire, now: &mut Instant, until: Instant,
//!        got: &mut Vec<(usize, Id, Vec<u8>)>) {
//!     while *now < until {
//!         *now = *now + Duration::from_millis(1);
//!         if let Some((to, from, bytes)) = wire.pop_front() {
//!             let i = nodes.iter().position(|n| n.own().addr == to).unwrap();
//!             nodes[i].handle_datagram(*now, from, &bytes);
//!             got.extend(drain(&mut nodes[i], wire).into_iter().map(|(k, p)| (i, k, p)));
//!         }
//!         for i in 0..nodes.len() {
//!             if nodes[i].poll_timeout().is_some_and(|t| t <= *now) {
//!                 nodes[i].handle_timeout(*now);
//!                 got.extend(drain(&mut nodes[i], wire).into_iter().map(|(k, p)| (i, k, p)));
//!             }
//!         }
//!     }
//! }
//!
//! let mut nodes: Vec<Node> = (1..=3u8)
//!     .map(|i| {
//!         let addr = SocketAddr::from(([10, 0, 0, i], 4000));
//!         // Each node's key pair; its id is the hash of the public key.
//!         let keys = Keypair::from_secret([i; 32]);
//!         Node::new(Config::default(), keys, addr, u64::from(i)).unwrap()
//!     })
//!     .collect();
//! let (mut wire, mut now, mut got) = (Wire::new(), Instant::from_secs(1), Vec::new());
//!
//! // The first node starts a ring of one; the others join through it.
//! nodes[0].join(now, None).unwrap();
//! let bootstrap = nodes[0].own().addr;
//! for i in 1..3 {
//!     nodes[i].join(now, Some(bootstrap)).unwrap();
//!     drain(&mut nodes[i], &mut wire);
//! }
//! run(&mut nodes, &mut wire, &mut now, Instant::from_secs(3), &mut got);
//! assert!(nodes.iter().all(|n| n.is_active() && n.leaf_set().len() == 2));
//!
//! // Route from the second node; the root delivers it.
//! let key = Id::sha1(b"some file");
//! nodes[1].route(now, key, AppId(7), b"hello", None).unwrap();
//! got.extend(drain(&mut nodes[1], &mut wire).into_iter().map(|(k, p)| (1, k, p)));
//! run(&mut nodes, &mut wire, &mut now, Instant::from_secs(4), &mut got);
//! let root = (0..3).min_by(|&a, &b| key.cmp_closeness(nodes[a].own().id, nodes[b].own().id));
//! assert_eq!(got, vec![(root.unwrap(), key, b"hello".to_vec())]);
//! ```
//!
//! ## Features
//!
//! * `std` (default): implies `alloc`; adds conversions of the codec's
//!   errors into `std::io::Error` for runtimes. Default because most users
//!   run on a server; embedded users opt out with `default-features = false`.
//! * `alloc`: the DHT's growable store ([`dht::MapStore`]); nothing else in
//!   the core needs an allocator, and without it nothing can allocate
//!   ([`dht::FixedStore`] keeps values in fixed arrays).
//! * `arbitrary`: `Arbitrary` impls for ids, peers and app ids (fuzzing).
//! * `fuzzing`: the `fuzzing` module, checks of the DHT's and Scribe's private
//!   payload codecs for the fuzz targets.
//! * `adversary`: faulty nodes for simulators that attack an overlay
//!   (`node::Adversary`, `Node::make_faulty`): a node given an adversary
//!   drops, misroutes or claims keys and offers only colluders, as it says.
//!   Never in a build that serves real traffic.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod app;
pub mod client;
pub mod config;
pub mod counters;
pub mod dht;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod id;
pub mod identity;
pub mod leaf_set;
pub mod node;
pub mod peer;
mod ration;
pub mod rng;
pub mod routing;
pub mod routing_table;
pub mod scribe;
pub mod secure;
pub mod session;
pub mod stack;
pub mod time;
pub mod wire;

pub use app::{Application, Host, HostEvent, Output};
pub use config::{Config, ConfigError};
pub use id::{Distance, Id};
pub use leaf_set::{LeafSet, NodeSet};
pub use node::{
    CommandError, DEFAULT_LEAF_HALF, DefaultNode, Delivery, EmbeddedNode, Event, Kbr, Node,
    Payload, Phase, Transmit,
};
pub use peer::Peer;
pub use routing::{KeyRange, NextHop, RoutingState};
pub use routing_table::{Entry, RoutingTable, Rtt};
pub use stack::{Stack, StackConfig, StackEvent};
pub use time::Instant;
pub use wire::AppId;
