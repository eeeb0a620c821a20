//! The peerlet host's counters, errors and status.

use pastry_core::node::CommandError;
use pastry_core::{AppId, Id};

use crate::manifest::ManifestError;

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerletStats {
    /// Peerlets installed (compiled and instantiated).
    pub installed: u64,
    /// Peerlets evicted to make room.
    pub evicted: u64,
    /// Peerlets stopped after repeated faults.
    pub stopped: u64,
    /// Messages refused here: the policy denied the peerlet.
    pub refused_policy: u64,
    /// Messages refused here: the node holds no code for the locator and
    /// could not fetch it (lately failed, or too many fetches).
    pub refused_unknown: u64,
    /// Messages refused here: the module could not be installed.
    pub refused_install: u64,
    /// Messages handed to the next replica-set member.
    pub fall_overs: u64,
    /// Origins told that no member runs their peerlet.
    pub refusals_sent: u64,
    /// Calls into peerlets (deliveries, forwards, timers).
    pub calls: u64,
    /// Fuel those calls used.
    pub fuel: u64,
    /// Calls that ended in a fault.
    pub faults: u64,
    /// Messages the peerlets sent.
    pub sends: u64,
    /// Sends refused: over a peerlet's budget, or no room in the node.
    pub sends_refused: u64,
    /// Peerlet messages that did not decode.
    pub malformed: u64,
    /// Answers and refusals dropped: not straight from the node that gave
    /// them, or for nothing this node sent lately (forged or stale).
    pub unsolicited: u64,
    /// Values (manifests and chunks) asked of the DHT.
    pub fetches: u64,
    /// Peerlets fetched whole and checked.
    pub fetched: u64,
    /// Fetches given up: not found, a bad manifest or module, or refused
    /// by the policy once the manifest was read.
    pub fetch_failures: u64,
}

/// Why a manifest and code were not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OfferError {
    /// The manifest does not check out, or the code does not match it.
    Manifest(ManifestError),
}

impl core::fmt::Display for OfferError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OfferError::Manifest(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OfferError {}

/// Why [`Peerlets::send`](super::Peerlets::send) sent nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No manifest is known under that locator.
    Unknown,
    /// The node refused the message.
    Node(CommandError),
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::Unknown => f.write_str("no manifest under that locator"),
            SendError::Node(e) => write!(f, "{e:?}"),
        }
    }
}

impl std::error::Error for SendError {}

/// An installed peerlet as an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Its manifest's locator.
    pub locator: Id,
    /// Its application id.
    pub app: AppId,
    /// Per-hop rather than end-node.
    pub per_hop: bool,
    /// Its provider's version.
    pub version: u64,
    /// Calls run, and the fuel they used.
    pub calls: u64,
    /// Fuel used.
    pub fuel: u64,
    /// Faults so far.
    pub faults: u64,
    /// Bytes of linear memory it holds, and of its store.
    pub memory_bytes: usize,
    /// Bytes of its store.
    pub store_bytes: usize,
}
