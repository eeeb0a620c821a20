//! # pastry-tests
//!
//! Home of the deterministic discrete-event simulator ([`sim`]) and the
//! scenario suite, the runtimes' `cluster` run ([`cluster`]), the
//! ground-truth helpers that judge routing state
//! against the global view ([`oracle`]) and the fuzz harnesses
//! ([`harness`]).

pub mod cluster;
pub mod harness;
pub mod hosted;
pub mod loadbench;
pub mod oracle;
pub mod process;
pub mod sim;
