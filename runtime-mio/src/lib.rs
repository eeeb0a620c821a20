//! # pastry-mio
//!
//! The mio event-loop runtime for [`pastry_core`]: one thread, UDP sockets
//! and the core's deadlines, no async and no protocol logic. Not built yet:
//! the node state machine it drives comes first (see the README's status
//! section).
