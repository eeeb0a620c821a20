//! Secure routing (Castro, Druschel, Ganesh, Rowstron and Wallach,
//! "Secure routing for structured peer-to-peer overlay networks", OSDI
//! 2002): delivering a message to every correct node among a key's
//! replica roots with high probability while up to a quarter of the nodes
//! are faulty and collude.
//!
//! The parts, each in its own file:
//! - [`density`]: the routing failure test (§5.2), which tells a replica
//!   set made up by colluders from a true one by how sparse it is.
//! - [`constrained`]: the constrained routing table (§4), whose entries
//!   an attacker cannot choose, used by secure queries.

use core::time::Duration;

pub mod constrained;
pub mod density;

pub use constrained::ConstrainedTable;
pub use density::{FailureTest, Suspicion};

/// Secure routing's settings (part of [`crate::Config`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct SecureConfig {
    /// The node fills its constrained table by secure lookups and, once
    /// joined, checks its leaf set against a secure lookup of its own id
    /// (default: off; `secure_lookup` and `secure_route` work either
    /// way, through whatever constrained entries there are).
    pub enabled: bool,
    /// The routing failure test's γ in thousandths: an answer whose ids
    /// are sparser than γ times our leaf set's fails (default 3,000: with
    /// leaf sets of 16 it fires on 0.5 % of correct answers, and a set of
    /// colluders alone is 1/F times sparser).
    pub gamma_permille: u32,
    /// First hops of redundant routing (default 32, at most
    /// [`crate::node::MAX_ROUTES`]): leaf-set members first, then table
    /// entries.
    pub routes: u8,
    /// How long a query's answers may take (default 3 s).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub timeout: Duration,
    /// Secure lookups at once while filling the constrained table.
    pub fill_parallel: u8,
    /// How often the constrained table is filled again (default 1 hour):
    /// nodes that joined since may be closer to a slot's point. Entries
    /// come from secure lookups only; a closer node someone offered
    /// would let an attacker choose which closer node we hear of.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::duration"))]
    pub refresh: Duration,
}

impl Default for SecureConfig {
    fn default() -> SecureConfig {
        SecureConfig {
            enabled: false,
            gamma_permille: 3_000,
            routes: 32,
            timeout: Duration::from_secs(3),
            fill_parallel: 2,
            refresh: Duration::from_secs(3_600),
        }
    }
}
