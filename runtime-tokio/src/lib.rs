//! # pastry-tokio
//!
//! The tokio runtime for [`pastry_core`]: it will own UDP sockets and a
//! clock, feed the sans-IO core and drain its output, with no protocol logic
//! of its own. Not built yet: the node state machine it drives comes first
//! (see the README's status section).
