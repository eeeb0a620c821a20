//! Which peerlets a node runs: by the provider's key, by application id,
//! or by default; and the most it grants any of them.

use pastry_core::AppId;
use pastry_core::identity::PublicKey;

use crate::budget::Budget;
use crate::manifest::Manifest;

/// A node's admission rules for peerlets. Denials win over trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Providers whose peerlets this node runs.
    pub trusted: Vec<PublicKey>,
    /// Providers whose peerlets it never runs.
    pub denied: Vec<PublicKey>,
    /// Application ids it never runs, whoever provides them.
    pub denied_apps: Vec<AppId>,
    /// Whether it runs a peerlet of a provider neither trusted nor denied.
    pub default_allow: bool,
    /// The most it grants any peerlet (a manifest asks; the node grants
    /// the smaller of each limit).
    pub budget: Budget,
}

impl Default for Policy {
    /// Runs nothing until told whom to trust: untrusted code is opt-in.
    fn default() -> Policy {
        Policy {
            trusted: Vec::new(),
            denied: Vec::new(),
            denied_apps: Vec::new(),
            default_allow: false,
            budget: Budget::DEFAULT,
        }
    }
}

/// Why a node did not run a peerlet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Its provider is denied, or not trusted where only trusted ones run.
    Provider,
    /// Its application id is denied.
    App,
}

impl Policy {
    /// Whether this node runs the peerlet `m` describes.
    pub fn admits(&self, m: &Manifest) -> Result<(), Refusal> {
        if self.denied.contains(&m.provider) {
            return Err(Refusal::Provider);
        }
        if self.denied_apps.contains(&m.app) {
            return Err(Refusal::App);
        }
        if self.default_allow || self.trusted.contains(&m.provider) {
            Ok(())
        } else {
            Err(Refusal::Provider)
        }
    }
}
