//! Fuzz harnesses. Each `fuzz/fuzz_targets/<name>.rs` is a one-line call to
//! the function of the same name here, so the same code also runs on stable
//! as an ordinary test that replays the committed corpus
//! (`tests/tests/fuzz_corpus.rs`). Every harness panics when a property
//! fails; anything else is a pass.
//!
//! | target | input | property |
//! | --- | --- | --- |
//! | [`wire_decode`] | any bytes | decoding never panics and is canonical |
//! | [`wire_roundtrip`] | an arbitrary message | encode, decode: the same message |
//! | [`client_decode`] | any bytes | the client protocol, as `wire_decode` |
//! | [`app_payloads`] | any bytes | the DHT's and Scribe's payloads, as `wire_decode` |
//! | [`node_events`] | datagrams, ticks and commands | one active node (with its DHT and Scribe) keeps its invariants and answers a probe |
//! | [`sim_faults`] | drops, delays, duplicates, crashes, restarts | 8–16 simulated nodes converge once the faults stop |

mod faults;
mod node;
mod wire;

pub use faults::{ArbFault, FaultRun, NodeFault, What, sim_faults};
pub use node::{NodeRun, World, node_events};
pub use wire::{
    ArbBody, ArbLeafSet, ArbMessage, app_payloads, client_decode, wire_decode, wire_roundtrip,
};
