//! Counters of a running node: the core's, its applications' and the
//! runtime's own.

use pastry_core::dht::DhtStats;
use pastry_core::node::Stats as NodeStats;
use pastry_core::scribe::ScribeStats;

use crate::driver::TokioStack;

/// What the runtime counts (the core counts the protocol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Times the task woke (socket, deadline or command).
    pub wakeups: u64,
    /// Datagrams read from the socket.
    pub datagrams_in: u64,
    /// Bytes read from the socket.
    pub bytes_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Sends that would have blocked (the datagram was kept and sent later).
    pub send_blocked: u64,
    /// Sends the system refused (the datagram was dropped; the overlay's
    /// acks and probes recover as from a loss).
    pub send_errors: u64,
    /// Reads the system failed (such as an ICMP error surfacing).
    pub recv_errors: u64,
    /// Events dropped because the application did not read them in time.
    pub events_dropped: u64,
}

/// A snapshot of every counter of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The overlay's: messages per kind, drops by reason (malformed and
    /// hostile datagrams are counted here), reroutes, failures.
    pub node: NodeStats,
    /// The DHT's.
    pub dht: DhtStats,
    /// Scribe's.
    pub scribe: ScribeStats,
    /// The runtime's.
    pub runtime: RuntimeStats,
}

impl Stats {
    pub(crate) fn of(stack: &TokioStack, runtime: RuntimeStats) -> Stats {
        Stats {
            node: stack.node().stats().clone(),
            dht: *stack.dht().stats(),
            scribe: *stack.scribe().stats(),
            runtime,
        }
    }
}
