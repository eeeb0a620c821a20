//! Prints the memory footprint of the routing state for the default and a
//! small embedded configuration: `cargo run -p pastry-core --example sizes`.

use core::mem::size_of;

use pastry_core::{Entry, LeafSet, Node, Peer, RoutingState, RoutingTable};

fn main() {
    println!("{:<48} {:>7}", "type", "bytes");
    let rows: [(&str, usize); 9] = [
        ("Peer (id + SocketAddr)", size_of::<Peer>()),
        ("routing_table::Entry (peer + rtt)", size_of::<Entry>()),
        (
            "LeafSet<8>        (L = 16, default)",
            size_of::<LeafSet<8>>(),
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
            "Node<8, 4, 4, 16> (embedded)",
            size_of::<Node<8, 4, 4, 16>>(),
        ),
    ];
    for (name, bytes) in rows {
        println!("{name:<48} {bytes:>7}");
    }
}
