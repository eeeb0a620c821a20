//! # pastry-peerlet
//!
//! Peerlets, after PROST: one overlay serves many applications whose code
//! is deployed to the peers while they run. A peerlet is a WebAssembly
//! module; its provider signs a [`Manifest`] naming the application id,
//! whether it is per-hop or end-node, the module's hash and chunks, the
//! limits it asks for and a version; a message names its peerlet by the
//! manifest's content hash (its *locator*, in the message's
//! [`envelope`]).
//!
//! **The contract.** A node runs a peerlet only if its [`Policy`] admits
//! the provider's key and the application id, only within the smaller of
//! the manifest's and the node's [`Budget`] (fuel per call, memory,
//! recursion, a private store, a send allowance), and only in a wasmi
//! [`Sandbox`] of its own: whatever the module does, a call ends, the
//! node's memory and every other application are untouched, and a fault is
//! counted and named ([`Fault`]); a peerlet that keeps faulting is stopped
//! for good. A node that will not run a peerlet hands its message to the
//! next member of the key's replica set; when none is left the origin is
//! told ([`PeerletEvent::Refused`]). Runs are deterministic: the clock is
//! the node's `now`, randomness comes from a seed, and wasmi runs Wasm's
//! deterministic profile.
//!
//! **Where it sits.** [`Peerlets`] is an application on the node's seam:
//! a runtime hosts it (`pastry_tokio::Builder::app(Peerlets::new(..))`,
//! with [`Hops`] as the node's forwarder for per-hop peerlets), and its
//! events reach the user as bytes that [`PeerletEvent::decode`] reads.
//! The guest's side of the contract is [`abi`].
//!
//! ```
//! use pastry_core::{Id, Instant};
//! use pastry_peerlet::{Budget, Fault, Runtime, Send, View};
//!
//! // An end-node peerlet that echoes every message to its source.
//! let echo = wat::parse_str(r#"(module
//!     (import "pastry" "reply" (func $reply (param i32 i32) (result i32)))
//!     (memory (export "memory") 1)
//!     (func (export "pastry_buffer") (result i32) (i32.const 1024))
//!     (func (export "pastry_deliver") (param $len i32)
//!         ;; the payload follows the key and the source id (40 bytes)
//!         (drop (call $reply (i32.const 1064) (i32.sub (local.get $len) (i32.const 40))))))"#,
//! ).unwrap();
//! let runtime = Runtime::new();
//! let mut p = runtime.instantiate(&echo, Budget::DEFAULT, 7).unwrap();
//! let view = View { own: Id::sha1(b"me"), neighbours: vec![] };
//! let e = p.deliver((Instant::ZERO, &view), Id::sha1(b"key"), Id::sha1(b"you"), b"ping").unwrap();
//! assert_eq!(e.sends, [Send::Reply { payload: b"ping".to_vec() }]);
//!
//! // A module that never returns is stopped by its fuel.
//! let spin = wat::parse_str(r#"(module (memory (export "memory") 1)
//!     (func (export "pastry_buffer") (result i32) (i32.const 0))
//!     (func (export "pastry_deliver") (param i32) (loop (br 0))))"#).unwrap();
//! let mut bad = runtime.instantiate(&spin, Budget::DEFAULT, 7).unwrap();
//! let r = bad.deliver((Instant::ZERO, &view), Id::ZERO, Id::ZERO, b"");
//! assert_eq!(r, Err(Fault::OutOfFuel));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod abi;
pub mod budget;
pub mod envelope;
mod event;
pub mod fuzzing;
mod host;
mod imports;
pub mod manifest;
pub mod policy;
pub mod sandbox;

pub use budget::Budget;
pub use event::PeerletEvent;
pub use host::{
    ANSWER_WINDOW, FALL_OVER, Hops, MAX_FAULTS, MAX_FETCHING, MAX_INSTALLED, MAX_LIBRARY,
    MAX_WAITING, OfferError, PeerletStats, Peerlets, RETRY_AFTER, SendError, Status,
};
pub use manifest::{Manifest, ManifestError, Package};
pub use policy::{Policy, Refusal};
pub use sandbox::{Effects, Fault, Forward, Runtime, Sandbox, Send, View};
