//! Memory budget of the routing state (DESIGN: a bounded footprint chosen at
//! compile time). A whole embedded node was within 16 KiB until it had to
//! verify its peers: its 16 sessions (keys and replay windows), the
//! handshakes under way and its own key pair take 7 KiB more, and the
//! table candidates it measured lately (so it does not probe them again)
//! a quarter KiB, and the records of what it delivered lately, for a node
//! joining beside it (so that node does not deliver them again), 216 B:
//! the budget is 21,960 B. The routing state must leave most of it to
//! queues, pools and sessions.

use core::mem::size_of;

use pastry_core::routing_table::Entry;
use pastry_core::{EmbeddedNode, LeafSet, Peer, RoutingState, RoutingTable};

/// What a table of `rows` rows spends on spares (the `table-spares`
/// feature, on with `std` and off in the embedded build): one entry a slot.
fn spares(rows: usize) -> usize {
    if cfg!(feature = "table-spares") {
        rows * 16 * size_of::<Entry>()
    } else {
        0
    }
}

#[test]
fn routing_state_fits_its_budget() {
    // A table slot costs one entry (and a spare): no hidden per-slot overhead.
    assert_eq!(size_of::<Option<Entry>>(), size_of::<Entry>());
    assert!(size_of::<Peer>() <= 52);
    // The leaf set is its members plus a few words.
    assert!(size_of::<LeafSet<8>>() <= 16 * size_of::<Peer>() + 64);
    assert!(size_of::<RoutingTable<8>>() <= 8 * 16 * size_of::<Entry>() + spares(8) + 64);
    // Default routing state: under 9 KiB of the 16 KiB node budget, and
    // the spares.
    assert!(
        size_of::<RoutingState<8, 8>>() <= 9 * 1024 + spares(8),
        "{}",
        size_of::<RoutingState<8, 8>>()
    );
    // Embedded (L = 16, 4 rows, enough for 16^4 = 65,536 nodes): under 5 KiB.
    assert!(
        size_of::<RoutingState<8, 4>>() <= 5 * 1024 + spares(4),
        "{}",
        size_of::<RoutingState<8, 4>>()
    );
}

#[test]
fn an_embedded_node_fits_its_budget() {
    // L = 16, 4 rows, 4 message slots, queues of 16, 16 sessions: the
    // whole state machine, message buffers and keys included. Secure
    // lookups (the `secure-routing` feature, which `std` brings and the
    // embedded build leaves out) add a constrained table of 4 rows and
    // the state of 4 lookups: 6.5 KiB. (The workspace's features make
    // it 16 B more than pastry-core's alone.) `std` brings the table's
    // spares too.
    let n = size_of::<EmbeddedNode>();
    let budget = if cfg!(feature = "secure-routing") {
        28_688 + spares(4)
    } else {
        21_960 + spares(4)
    };
    assert!(n <= budget, "embedded node is {n} B");
}
