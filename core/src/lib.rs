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
//! * **Outputs**, polled by the caller until empty after every input (the
//!   drain rule): datagrams to send, encoded into a buffer the caller lends;
//!   the next deadline at which the core wants a tick; events for the
//!   application.
//! * **Deterministic**: same configuration, same seed ([`rng::SmallRng`]),
//!   same inputs, same outputs, bit for bit.
//! * **Bounded**: every table and queue has a capacity fixed by a const
//!   generic or the [`Config`]; full queues refuse, they never grow.
//! * **Total on input**: any byte string is a valid input; what is not a
//!   message is counted and dropped ([`wire::Message::decode`] never panics).
//!
//! The node state machine that speaks this contract (join, keep-alive,
//! repair, reliable forwarding) is being built on the pieces here: ids and
//! time ([`id`], [`time`]), configuration ([`config`]), the leaf set and
//! routing table ([`leaf_set`], [`routing_table`]), the next-hop rule and
//! local KBR calls ([`routing`]), and the wire codec ([`wire`]).
//!
//! ## Routing by hand
//!
//! Three nodes that know each other route a key to its root, the node
//! numerically closest to it; the message crosses a real encode/decode on
//! each hop.
//!
//! ```
//! use core::net::SocketAddr;
//! use pastry_core::wire::{AppId, Body, Message, Routed};
//! use pastry_core::{Config, Id, NextHop, Peer, RoutingState, Rtt};
//!
//! let peer = |name: &str, port: u16| {
//!     Peer::new(Id::sha1(name.as_bytes()), SocketAddr::from(([127, 0, 0, 1], port)))
//! };
//! let peers = [peer("a", 4001), peer("b", 4002), peer("c", 4003)];
//! let mut states: Vec<RoutingState> = peers
//!     .iter()
//!     .map(|p| RoutingState::new(*p, &Config::default()).unwrap())
//!     .collect();
//! for s in &mut states {
//!     for p in &peers {
//!         s.learn(*p, Rtt::UNKNOWN);
//!     }
//! }
//!
//! let key = Id::sha1(b"some file");
//! let mut at = 0; // start at node a
//! let first = Message {
//!     app: AppId(7),
//!     sender: peers[at],
//!     body: Body::Routed(Routed {
//!         msg_id: 1, key, per_hop: false, handoff: false, hops: 0, source: peers[at], payload: b"hello",
//!     }),
//! };
//! let mut datagram = vec![0u8; first.encoded_len()];
//! first.encode(&mut datagram).unwrap();
//! loop {
//!     // Each hop decodes what arrived and encodes a fresh datagram onwards.
//!     let msg = Message::decode(&datagram).unwrap();
//!     let Body::Routed(routed) = msg.body else { unreachable!() };
//!     match states[at].next_hop(routed.key, |_| false) {
//!         NextHop::Local => {
//!             assert_eq!(routed.payload, b"hello");
//!             break;
//!         }
//!         NextHop::Forward(next) => {
//!             let fwd = Routed { hops: routed.hops + 1, ..routed };
//!             let out = Message { app: msg.app, sender: peers[at], body: Body::Routed(fwd) };
//!             let mut buf = vec![0u8; out.encoded_len()];
//!             out.encode(&mut buf).unwrap();
//!             datagram = buf;
//!             at = peers.iter().position(|p| p.id == next.id).unwrap();
//!         }
//!     }
//! }
//! // The node that delivered is the one closest to the key.
//! let root = peers.iter().min_by(|a, b| key.cmp_closeness(a.id, b.id)).unwrap();
//! assert_eq!(peers[at], *root);
//! ```
//!
//! ## Features
//!
//! * `std` (default): implies `alloc`; adds conversions of the codec's
//!   errors into `std::io::Error` for runtimes. Default because most users
//!   run on a server; embedded users opt out with `default-features = false`.
//! * `alloc`: reserved for growable storage (the DHT's store); nothing in the
//!   core needs an allocator, and without it nothing can allocate.
//! * `arbitrary`: `Arbitrary` impls for ids, peers and app ids (fuzzing).

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod config;
pub mod id;
pub mod leaf_set;
pub mod node;
pub mod peer;
pub mod rng;
pub mod routing;
pub mod routing_table;
pub mod time;
pub mod wire;

pub use config::{Config, ConfigError};
pub use id::{Distance, Id};
pub use leaf_set::{LeafSet, NodeSet};
pub use node::{CommandError, Delivery, Event, Node, Phase, Transmit};
pub use peer::Peer;
pub use routing::{KeyRange, NextHop, RoutingState};
pub use routing_table::{Entry, RoutingTable, Rtt};
pub use time::Instant;
pub use wire::AppId;
