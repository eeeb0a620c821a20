//! # pastry-tests
//!
//! Home of the deterministic discrete-event simulator ([`sim`]) and the
//! scenario suite, the ground-truth helpers that judge routing state
//! against the global view ([`oracle`]) and the fuzz harnesses
//! ([`harness`]).

pub mod harness;
pub mod oracle;
pub mod sim;
