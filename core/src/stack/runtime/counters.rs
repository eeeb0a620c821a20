//! What a runtime counts for one node, beside the core's counters.

use crate::counters::{Counter, Counters};
use crate::dht::{DhtStats, Store};
use crate::node::Stats as NodeStats;
use crate::scribe::ScribeStats;
use crate::session::SessionStats;

use super::RuntimeStack;

/// What a runtime counts for one node (the core counts the protocol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Times the node woke (socket, deadline or command).
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

crate::counters::plain!(
    RuntimeStats,
    "runtime_",
    [
        wakeups,
        datagrams_in,
        bytes_in,
        datagrams_out,
        bytes_out,
        send_blocked,
        send_errors,
        recv_errors,
        events_dropped,
    ]
);

/// How much a node holds now (values that go up and down, unlike the
/// counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Whether the node is in the ring.
    pub active: bool,
    /// Leaf-set members.
    pub leaf_set: usize,
    /// Routing-table entries.
    pub routing_table: usize,
    /// Peers with an authenticated session.
    pub sessions: usize,
    /// Values in the store.
    pub values: usize,
}

/// A snapshot of every counter of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The overlay's: messages per kind, drops by reason (malformed and
    /// hostile datagrams are counted here), reroutes, failures.
    pub node: NodeStats,
    /// The sessions': handshakes, and datagrams refused as not authentic.
    pub sessions: SessionStats,
    /// The DHT's.
    pub dht: DhtStats,
    /// Scribe's.
    pub scribe: ScribeStats,
    /// The runtime's.
    pub runtime: RuntimeStats,
    /// What the node holds now.
    pub gauges: Gauges,
}

impl Counters for Stats {
    fn each_counter(&self, f: &mut dyn FnMut(Counter)) {
        self.node.each_counter(f);
        self.sessions.each_counter(f);
        self.dht.each_counter(f);
        self.scribe.each_counter(f);
        self.runtime.each_counter(f);
    }
}

impl Stats {
    /// The counters of `stack` and its runtime.
    pub fn of(stack: &RuntimeStack, runtime: RuntimeStats) -> Stats {
        let node = stack.node();
        Stats {
            node: node.stats().clone(),
            sessions: *node.session_stats(),
            dht: *stack.dht().stats(),
            scribe: *stack.scribe().stats(),
            runtime,
            gauges: Gauges {
                active: node.is_active(),
                leaf_set: node.leaf_set().len(),
                routing_table: node.routing_table().len(),
                sessions: node.sessions(),
                values: stack.dht().store().len(),
            },
        }
    }
}
