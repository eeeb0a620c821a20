//! Faults chosen from outside (a fuzzer, a test): what happens to each of
//! the next datagrams, and nodes that come back after a crash.

use std::time::Duration;

use super::Sim;
use pastry_core::identity::Keypair;

/// What the network does to one datagram, on top of the model's loss and
/// delay ([`Sim::set_faults`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing more than the model does.
    Deliver,
    /// The datagram is lost.
    Drop,
    /// It arrives this much later.
    Delay(Duration),
    /// It arrives twice: on time, and again this much later.
    Duplicate(Duration),
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// The next datagrams sent meet these faults, one each, in order; then
    /// the network is the model's again. Replaces any faults still pending.
    pub fn set_faults(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.faults = faults.into_iter().collect();
    }

    /// Faults not yet used.
    pub fn faults_pending(&self) -> usize {
        self.faults.len()
    }

    /// Node `i`, crashed or left, comes back with its old id and address
    /// but none of its state (a reboot), and joins through a random active
    /// node (or starts a ring when there is none). False when it is alive.
    /// Runs with Scribe do not judge restarted nodes' subscriptions.
    pub fn restart(&mut self, i: usize) -> bool {
        if self.slots[i].host.is_some() {
            return false;
        }
        let (secret, addr) = (self.slots[i].secret, self.slots[i].addr);
        let seed = self.rng.next_u64();
        let host = self.new_host(Keypair::from_secret(secret), addr, seed);
        let slot = &mut self.slots[i];
        slot.host = Some(host);
        slot.wake = None;
        self.now_alive(i);
        if self.is_faulty(i) {
            self.corrupt(i);
        }
        let boot = self.random_correct();
        self.join(i, boot);
        true
    }
}
