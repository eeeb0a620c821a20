//! Named capacities, so that no user writes a node's numbers.
//!
//! A [`Node`]'s memory is fixed by its const generics (leaf-set half,
//! table rows, message slots, queue depth, sessions). These presets are
//! the two configurations the project measures and holds to a budget;
//! build other capacities from [`Node`] directly.

use super::{Node, Passthrough};

/// A node for servers and the runtimes: L = 16 by default and room for
/// leaf sets up to 32 ([`DEFAULT_LEAF_HALF`]), 8 table rows (16⁸ ≈ 4·10⁹
/// nodes), `POOL` message slots (16 by default; each payload shares
/// `POOL` × [`SLOT_BYTES`](super::SLOT_BYTES) bytes), queues of 64 and
/// 256 verified peers cached (`cargo run -p pastry-core --example sizes`
/// prints its size). A node of a 256-node overlay greets about 135 peers
/// while the overlay forms (its members, the nodes its joins and probes
/// meet); with room for 128 a bootstrap facing 255 joiners at once
/// evicted sessions before they were used, and half the joins failed.
pub type DefaultNode<F = Passthrough, const POOL: usize = 16> =
    Node<DEFAULT_LEAF_HALF, 8, POOL, 64, F, DEFAULT_SESSIONS>;

/// Leaf-set members a side a [`DefaultNode`] has room for: 16, so that
/// `Config::leaf_set_size` may be 32, the size OSDI'02 §5.3 measured
/// secure routing with (with `max_datagram` of at least 1,327 bytes for
/// 32 IPv6 peers). Room for the 16 unused by the default L = 16 costs
/// about 1 KiB a node.
pub const DEFAULT_LEAF_HALF: usize = 16;

/// Verified peers a [`DefaultNode`] keeps sessions with.
pub const DEFAULT_SESSIONS: usize = 256;

/// A node for a microcontroller: L = 16, 4 table rows (enough for 65,536
/// nodes: longer shared prefixes are in the leaf set anyway), 4 message
/// slots, queues of 16 and 16 verified peers cached (its leaf set; table
/// members beyond are greeted again when used). `core/tests/footprint.rs`
/// holds it under 21 KiB and CI holds the `embedded/` node built on it to
/// a `.text` budget.
pub type EmbeddedNode<F = Passthrough> = Node<8, 4, 4, 16, F, 16>;
