//! The contract between a node and a peerlet's WebAssembly module
//! (version 1). Everything crosses through one buffer in the guest's
//! memory, so the host never calls the guest's allocator.
//!
//! **The guest exports**
//!
//! | export | signature | when |
//! | --- | --- | --- |
//! | `memory` | a linear memory | always |
//! | `pastry_buffer` | `() -> i32` | always: the address of a buffer of at least [`BUFFER_LEN`] bytes |
//! | `pastry_deliver` | `(len: i32)` | an end-node peerlet: a message reached its key's root |
//! | `pastry_forward` | `(len: i32) -> i32` | a per-hop peerlet: a message passes this node |
//! | `pastry_timer` | `()` | optional: the timer it set is due |
//!
//! Before `pastry_deliver` the buffer holds key (20) ‖ source id (20) ‖
//! payload; before `pastry_forward`, key (20) ‖ source id (20) ‖ next hop
//! id (20; zeros at the root) ‖ payload. `pastry_forward` answers
//! [`FORWARD_STOP`], [`FORWARD_CONTINUE`] (unchanged), or n ≥ 0: go on with
//! the first n bytes of the buffer as the payload.
//!
//! **The host provides** (module `pastry`; pointers are offsets into the
//! guest's memory, and one outside it traps the call):
//!
//! | import | signature | does |
//! | --- | --- | --- |
//! | `route` | `(key: i32, ptr: i32, len: i32) -> i32` | routes `len` bytes to the 20-byte key at `key`, as this peerlet |
//! | `reply` | `(ptr: i32, len: i32) -> i32` | sends to the source of the message being handled |
//! | `store_get` | `(k: i32, klen: i32, out: i32, cap: i32) -> i32` | the value's length (copied up to `cap`), or −1 |
//! | `store_put` | `(k: i32, klen: i32, v: i32, vlen: i32) -> i32` | 0, or −1 past the store budget |
//! | `store_remove` | `(k: i32, klen: i32) -> i32` | 1 if it was there, else 0 |
//! | `log` | `(ptr: i32, len: i32)` | one line for the operator (truncated) |
//! | `now_ms` | `() -> i64` | the node's clock, milliseconds |
//! | `random` | `() -> i64` | from the peerlet's seeded generator |
//! | `set_timer` | `(after_ms: i64)` | `pastry_timer` runs then (one timer; a new one replaces it) |
//! | `own_id` | `(out: i32)` | writes this node's id (20 bytes) |
//! | `replica_set` | `(key: i32, r: i32, out: i32, cap: i32) -> i32` | writes the ids of the `r` nodes closest to the key that this node knows; their count |
//! | `neighbor_set` | `(n: i32, out: i32, cap: i32) -> i32` | writes up to `n` neighbours' ids; their count |
//!
//! `route` and `reply` answer 0 when the message is queued and
//! [`REFUSED`] when the peerlet is past its send budget or its per-call
//! allowance. Each host call costs [`HOST_CALL_FUEL`] fuel besides.

/// Bytes the guest's buffer must hold: the largest input (three ids and
/// the largest payload a node routes).
pub const BUFFER_LEN: usize = 3 * 20 + pastry_core::node::MAX_PAYLOAD;

/// `pastry_forward`'s answer: drop the message here.
pub const FORWARD_STOP: i32 = -1;
/// `pastry_forward`'s answer: go on unchanged.
pub const FORWARD_CONTINUE: i32 = -2;

/// A host call's answer: not done (a budget or allowance is spent).
pub const REFUSED: i32 = -1;

/// Fuel each host call costs, so a peerlet cannot spin on cheap-looking
/// calls.
pub const HOST_CALL_FUEL: u64 = 100;

/// The import module's name.
pub const MODULE: &str = "pastry";

/// Export names.
pub(crate) const BUFFER: &str = "pastry_buffer";
pub(crate) const DELIVER: &str = "pastry_deliver";
pub(crate) const FORWARD: &str = "pastry_forward";
pub(crate) const TIMER: &str = "pastry_timer";
pub(crate) const MEMORY: &str = "memory";
