//! Named capacities, so that no user writes a node's four numbers.
//!
//! A [`Node`]'s memory is fixed by four const generics (leaf-set half,
//! table rows, message slots, queue depth). These presets are the two
//! configurations the project measures and holds to a budget; build other
//! capacities from [`Node`] directly.

use super::{Node, Passthrough};

/// A node for servers and the runtimes: L = 16, 8 table rows (16⁸ ≈ 4·10⁹
/// nodes), `POOL` message slots (16 by default; each payload shares
/// `POOL` × [`SLOT_BYTES`](super::SLOT_BYTES) bytes) and queues of 64.
/// 39,840 B with the defaults (`cargo run -p pastry-core --example sizes`).
pub type DefaultNode<F = Passthrough, const POOL: usize = 16> = Node<8, 8, POOL, 64, F>;

/// A node for a microcontroller: L = 16, 4 table rows (enough for 65,536
/// nodes: longer shared prefixes are in the leaf set anyway), 4 message
/// slots and queues of 16. `core/tests/footprint.rs` holds it under
/// 16 KiB and CI holds the `embedded/` node built on it under 64 KiB of
/// `.text`.
pub type EmbeddedNode<F = Passthrough> = Node<8, 4, 4, 16, F>;
