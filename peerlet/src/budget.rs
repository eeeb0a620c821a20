//! What one peerlet may use on a node. The provider asks for limits in its
//! manifest; the node grants at most its own ([`Budget::grant`]).

use core::time::Duration;

/// Limits on one installed peerlet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Fuel (about one unit per WebAssembly instruction) for one call:
    /// a delivery, a forward, a timer, or the module's start.
    pub fuel_per_call: u64,
    /// Bytes of linear memory (WebAssembly pages are 64 KiB).
    pub memory_bytes: u32,
    /// Bytes of its private key-value store (keys and values).
    pub store_bytes: u32,
    /// Messages it may send (`route`, `reply`) at once ...
    pub send_burst: u32,
    /// ... and one more every this long.
    pub send_refill: Duration,
}

impl Budget {
    /// A node's defaults: enough for an aggregator or a filter, far from
    /// enough to hurt the node.
    pub const DEFAULT: Budget = Budget {
        fuel_per_call: 1_000_000,
        memory_bytes: 1 << 20,
        store_bytes: 64 << 10,
        send_burst: 32,
        send_refill: Duration::from_millis(50),
    };

    /// The smaller of each limit: what a node grants a manifest asking for
    /// `asked`.
    pub fn grant(self, asked: Budget) -> Budget {
        Budget {
            fuel_per_call: self.fuel_per_call.min(asked.fuel_per_call),
            memory_bytes: self.memory_bytes.min(asked.memory_bytes),
            store_bytes: self.store_bytes.min(asked.store_bytes),
            send_burst: self.send_burst.min(asked.send_burst),
            send_refill: self.send_refill.max(asked.send_refill),
        }
    }
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::DEFAULT
    }
}

/// The largest module a node compiles.
pub const MAX_MODULE_BYTES: usize = 256 << 10;

/// Deepest call stack a peerlet may build (WebAssembly frames).
pub const MAX_RECURSION: usize = 512;
