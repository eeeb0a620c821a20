//! # pastry-tests
//!
//! Home of the deterministic discrete-event simulator and the scenario
//! suite. For now it holds the ground-truth helpers that judge routing state
//! against the global view (see [`oracle`]) and the fuzz harnesses (see
//! [`harness`]); the simulator comes with the node state machine.

pub mod harness;
pub mod oracle;
