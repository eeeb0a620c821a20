//! A small application for the runtimes' tests of hosted applications:
//! counters whose increments route to the counter's key, counted by the
//! key's root, which tells its user when a counter reaches a target.

use std::collections::BTreeMap;

use pastry_core::node::AppPolicy;
use pastry_core::stack::runtime::HostedApp;
use pastry_core::{AppId, CommandError, Event, Id, Instant, Kbr};

/// The counters' application id.
pub const TALLY: AppId = AppId(0x7A11);

/// The counters this node is the root of.
#[derive(Debug, Default)]
pub struct Tally {
    counts: BTreeMap<Id, u64>,
    /// A count that, reached, is told to the user (as its 8 bytes).
    pub target: u64,
    told: Vec<Vec<u8>>,
}

impl Tally {
    /// A tally that tells its user when a counter reaches `target`.
    pub fn new(target: u64) -> Tally {
        Tally {
            target,
            ..Tally::default()
        }
    }

    /// Routes one increment of `key`'s counter to its root.
    pub fn increment(node: &mut dyn Kbr, now: Instant, key: Id) -> Result<u64, CommandError> {
        node.route(now, key, TALLY, &[], None)
    }

    /// The count of `key` here (0 where this node is not its root).
    pub fn count(&self, key: Id) -> u64 {
        self.counts.get(&key).copied().unwrap_or(0)
    }
}

impl HostedApp for Tally {
    fn install(&mut self, node: &mut dyn Kbr) -> Result<(), CommandError> {
        let policy = AppPolicy {
            allow: true,
            per_hop: false,
            receipts: true,
        };
        node.set_policy(TALLY, policy)
    }

    fn handle_event(&mut self, _now: Instant, _node: &mut dyn Kbr, ev: Event<'_>) -> bool {
        let Event::Deliver(d) = ev else { return false };
        if d.app != TALLY {
            return false;
        }
        let n = self.counts.entry(d.key).or_default();
        *n += 1;
        if *n == self.target {
            self.told.push(n.to_be_bytes().to_vec());
        }
        true
    }

    fn poll_event(&mut self) -> Option<Vec<u8>> {
        self.told.pop()
    }
}

/// An application no test node hosts, for asking a node the wrong type.
#[derive(Debug, Default)]
pub struct Absent;

impl HostedApp for Absent {}
