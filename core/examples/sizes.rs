//! Prints the memory footprint of the routing state for the default and a
//! small embedded configuration: `cargo run -p pastry-core --example sizes`.
//! With `std` (the default features) it also breaks down a runtime node.

use core::mem::size_of;

use pastry_core::dht::{Dht, FixedStore, MapStore};
use pastry_core::{EmbeddedNode, Entry, LeafSet, Node, Peer, RoutingState, RoutingTable};

fn main() {
    println!("{:<56} {:>7}", "type", "bytes");
    let rows: [(&str, usize); 12] = [
        ("Peer (id + SocketAddr)", size_of::<Peer>()),
        ("routing_table::Entry (peer + rtt)", size_of::<Entry>()),
        (
            "LeafSet<8>        (L = 16, default)",
            size_of::<LeafSet<8>>(),
        ),
        (
            "LeafSet<16>       (room for L = 32, DefaultNode)",
            size_of::<LeafSet<16>>(),
        ),
        (
            "RoutingTable<8>   (8 rows, default)",
            size_of::<RoutingTable<8>>(),
        ),
        (
            "RoutingState<8, 8> (default)",
            size_of::<RoutingState<8, 8>>(),
        ),
        (
            "RoutingTable<4>   (4 rows, embedded)",
            size_of::<RoutingTable<4>>(),
        ),
        (
            "RoutingState<8, 4> (embedded: L = 16, 4 rows)",
            size_of::<RoutingState<8, 4>>(),
        ),
        (
            "Node (default: 8 rows, 16 slots, queues 64)",
            size_of::<Node>(),
        ),
        (
            "EmbeddedNode (L = 16, 4 rows, 4 slots, queues of 16)",
            size_of::<EmbeddedNode>(),
        ),
        (
            "Dht<MapStore> (default: 16-value, 8 KiB cache)",
            size_of::<Dht<MapStore>>(),
        ),
        (
            "Dht<FixedStore<16, 4096>, 0, 0> (embedded, no cache)",
            size_of::<Dht<FixedStore<16, 4096>, 0, 0>>(),
        ),
    ];
    print(&rows);
    #[cfg(feature = "std")]
    runtime();
}

fn print(rows: &[(&str, usize)]) {
    for (name, bytes) in rows {
        println!("{name:<56} {bytes:>7}");
    }
}

/// What one node of pastry-tokio or pastry-mio holds before any value is
/// stored: its stack (node, DHT, Scribe, hosted application) in one box.
#[cfg(feature = "std")]
fn runtime() {
    use pastry_core::DefaultNode;
    use pastry_core::node::Passthrough;
    use pastry_core::scribe::Scribe;
    use pastry_core::stack::STACK_POOL;
    use pastry_core::stack::runtime::{NodeStore, RuntimeStack};
    let rows: [(&str, usize); 4] = [
        (
            "RuntimeStack (a runtime node's stack)",
            size_of::<RuntimeStack>(),
        ),
        (
            "  DefaultNode (64 slots, 256 sessions)",
            size_of::<DefaultNode<Passthrough, STACK_POOL>>(),
        ),
        (
            "  Dht<NodeStore> (values kept apart)",
            size_of::<Dht<NodeStore>>(),
        ),
        ("  Scribe (16 groups, 8 children)", size_of::<Scribe>()),
    ];
    print(&rows);
}
