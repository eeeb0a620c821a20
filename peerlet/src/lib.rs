//! # pastry-peerlet
//!
//! Peerlets (PROST): applications deployed to a running overlay as
//! WebAssembly modules, run in a sandbox with fuel and memory limits.
//! wip.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod abi;
pub mod budget;
pub mod sandbox;

pub use budget::Budget;
pub use sandbox::{Effects, Fault, Forward, Runtime, Sandbox, Send, View};
