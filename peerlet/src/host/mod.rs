//! [`Peerlets`]: the application that runs a node's peerlets, on the same
//! seam as the DHT and Scribe (a runtime hosts it with `Builder::app`).
//!
//! A message for a peerlet carries its [`Envelope`]. Where it is to be
//! delivered (its key's root, or the replica-set member it was handed to)
//! the node runs the peerlet if it holds its code and its policy admits
//! the provider and the application; otherwise it hands the message to the
//! next member of the key's replica set (PROST's fall-over), and when no
//! member is left the origin hears [`PeerletEvent::Refused`]. A per-hop
//! peerlet's messages are handed to this application on their way too
//! ([`Hops`], the node's `forward` upcall for peerlet ids), which runs
//! `pastry_forward` and sends them on, changed or not, or drops them.
//!
//! Faults are the peerlet's own: the message is dropped and counted, and
//! a peerlet that faults [`MAX_FAULTS`] times in a row is stopped and
//! never run again by this node. Nothing a peerlet does reaches another
//! peerlet's state or the node's.

use std::collections::{BTreeMap, VecDeque};

use pastry_core::node::Kbr;
use pastry_core::{AppId, Id, Instant, Peer};

use crate::envelope::Envelope;
use crate::event::PeerletEvent;
use crate::manifest::Manifest;
use crate::policy::Policy;
use crate::sandbox::{Effects, Fault, Runtime, Sandbox, View};

mod dispatch;
mod fetch;
mod types;

pub use dispatch::Hops;
use dispatch::mark;
pub use fetch::{MAX_FETCHING, MAX_WAITING, RETRY_AFTER};

pub use types::{OfferError, PeerletStats, SendError, Status};

/// Peerlets installed at once; the least recently used goes first.
pub const MAX_INSTALLED: usize = 16;
/// Manifests with their code a node keeps ready to install.
pub const MAX_LIBRARY: usize = 64;
/// Consecutive faults after which a peerlet is stopped.
pub const MAX_FAULTS: u32 = 8;
/// Replica-set members a message may be handed to before the origin is
/// told no one runs it.
pub const FALL_OVER: usize = 5;
/// Events kept for the user, sends waiting for room in the node, and
/// messages sent whose answers are awaited.
const MAX_QUEUE: usize = 256;
/// How long an answer to a message this node sent is believed.
pub const ANSWER_WINDOW: core::time::Duration = core::time::Duration::from_secs(60);

#[derive(Debug)]
struct Installed {
    locator: Id,
    manifest: Manifest,
    sandbox: Sandbox,
    used: u64,
    calls: u64,
    fuel: u64,
    faults: u64,
    in_a_row: u32,
}

#[derive(Debug)]
struct Offered {
    manifest: Manifest,
    code: Vec<u8>,
    added: u64,
}

/// Where a queued send goes.
#[derive(Clone, Copy, Debug)]
enum To {
    Key(Id),
    Peer(Peer),
}

/// The peerlets of one node (see the module docs).
#[derive(Debug)]
pub struct Peerlets {
    runtime: Runtime,
    policy: Policy,
    library: BTreeMap<Id, Offered>,
    /// Manifests read from the DHT to send to peerlets this node does not
    /// run (oldest out first).
    known: VecDeque<(Id, Manifest)>,
    installed: Vec<Installed>,
    /// Locators this node stopped: never run again.
    stopped: Vec<Id>,
    events: VecDeque<PeerletEvent>,
    outbox: VecDeque<(To, AppId, Vec<u8>)>,
    /// What this node sent to peerlets lately, (locator, key, until): an
    /// answer or refusal for anything else is not believed.
    asked: VecDeque<(Id, Id, Instant)>,
    fetches: fetch::Fetches,
    stats: PeerletStats,
    clock: u64,
    seed: u64,
}

impl Peerlets {
    /// A node's peerlets under `policy`; `seed` seeds their randomness.
    pub fn new(policy: Policy, seed: u64) -> Peerlets {
        Peerlets {
            runtime: Runtime::new(),
            policy,
            library: BTreeMap::new(),
            known: VecDeque::new(),
            installed: Vec::new(),
            stopped: Vec::new(),
            events: VecDeque::new(),
            outbox: VecDeque::new(),
            asked: VecDeque::new(),
            fetches: fetch::Fetches::default(),
            stats: PeerletStats::default(),
            clock: 0,
            seed,
        }
    }

    /// The admission policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Changes the admission policy; installed peerlets it no longer
    /// admits are removed.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
        let p = &self.policy;
        self.installed.retain(|i| p.admits(&i.manifest).is_ok());
    }

    /// Counters.
    pub fn stats(&self) -> &PeerletStats {
        &self.stats
    }

    /// The installed peerlets.
    pub fn list(&self) -> Vec<Status> {
        self.installed
            .iter()
            .map(|i| Status {
                locator: i.locator,
                app: i.manifest.app,
                per_hop: i.manifest.per_hop,
                version: i.manifest.version,
                calls: i.calls,
                fuel: i.fuel,
                faults: i.faults,
                memory_bytes: i.sandbox.memory_bytes(),
                store_bytes: i.sandbox.store_bytes(),
            })
            .collect()
    }

    /// The value an installed peerlet keeps under `key` in its store.
    pub fn stored(&self, locator: Id, key: &[u8]) -> Option<&[u8]> {
        let i = self.installed.iter().find(|i| i.locator == locator)?;
        i.sandbox.stored(key)
    }

    /// Takes a signed manifest and its module, checked against each other,
    /// so this node can run the peerlet when a message needs it (and send
    /// messages to it). Returns the locator. Whether it runs here is still
    /// the policy's decision.
    pub fn offer(&mut self, signed_manifest: &[u8], code: &[u8]) -> Result<Id, OfferError> {
        let manifest = Manifest::open(signed_manifest).map_err(OfferError::Manifest)?;
        manifest.check_code(code).map_err(OfferError::Manifest)?;
        let locator = crate::manifest::locator(signed_manifest);
        self.shelve(locator, manifest, code.to_vec());
        Ok(locator)
    }

    /// Keeps a checked manifest and its module, ready to install (the
    /// oldest out first when the library is full).
    fn shelve(&mut self, locator: Id, manifest: Manifest, code: Vec<u8>) {
        if !self.library.contains_key(&locator) && self.library.len() >= MAX_LIBRARY {
            let oldest = self
                .library
                .iter()
                .min_by_key(|(_, o)| o.added)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.library.remove(&k);
            }
        }
        self.clock += 1;
        self.library.insert(
            locator,
            Offered {
                manifest,
                code,
                added: self.clock,
            },
        );
    }

    /// The manifest under `locator`, if this node has it.
    pub fn manifest(&self, locator: Id) -> Option<&Manifest> {
        let known = || {
            self.known
                .iter()
                .find(|(l, _)| *l == locator)
                .map(|(_, m)| m)
        };
        self.library
            .get(&locator)
            .map(|o| &o.manifest)
            .or_else(known)
    }

    /// Remembers that this node sent to `locator` at `key`, so its
    /// answers are believed for [`ANSWER_WINDOW`].
    pub(super) fn note_asked(&mut self, now: Instant, locator: Id, key: Id) {
        if self.asked.len() >= MAX_QUEUE {
            self.asked.pop_front();
        }
        self.asked.push_back((locator, key, now + ANSWER_WINDOW));
    }

    /// Whether this node sent to `locator` at `key` lately.
    pub(super) fn was_asked(&mut self, now: Instant, locator: Id, key: Id) -> bool {
        self.asked.retain(|&(_, _, until)| until > now);
        self.asked.iter().any(|&(l, k, _)| l == locator && k == key)
    }

    /// Remembers a manifest read from the DHT.
    fn learn(&mut self, locator: Id, m: &Manifest) {
        if self.manifest(locator).is_none() {
            if self.known.len() >= MAX_LIBRARY {
                self.known.pop_front();
            }
            self.known.push_back((locator, m.clone()));
        }
    }

    /// Sends `payload` to the peerlet under `locator` at `key`'s root:
    /// at once (`Some`: the message's id) if this node has its manifest,
    /// else (`None`) once it has fetched it from the DHT; if that fails,
    /// [`PeerletEvent::Refused`] follows. Replies come back as
    /// [`PeerletEvent::Reply`].
    pub fn send(
        &mut self,
        now: Instant,
        node: &mut dyn Kbr,
        (locator, key): (Id, Id),
        payload: &[u8],
    ) -> Result<Option<u64>, SendError> {
        let Some(m) = self.manifest(locator) else {
            let w = fetch::Waiting::Send {
                key,
                payload: payload.to_vec(),
            };
            return match self.wait_for(now, locator, w) {
                true => Ok(None),
                false => Err(SendError::Unknown),
            };
        };
        let (app, per_hop) = (m.app, m.per_hop);
        mark(node, app, per_hop);
        self.note_asked(now, locator, key);
        let env = Envelope::message(locator, key, node.own(), payload);
        node.route(now, key, app, &env.encode(), None)
            .map(Some)
            .map_err(SendError::Node)
    }

    fn view(node: &dyn Kbr) -> View {
        View {
            own: node.own().id,
            neighbours: node.neighbor_set(usize::MAX).iter().map(|p| p.id).collect(),
        }
    }

    /// The installed peerlet for `locator`, installing it from the
    /// library if the policy admits it.
    fn ready(&mut self, locator: Id) -> Result<usize, Refused> {
        self.clock += 1;
        if let Some(i) = self.installed.iter().position(|i| i.locator == locator) {
            self.installed[i].used = self.clock;
            return Ok(i);
        }
        if self.stopped.contains(&locator) {
            return Err(Refused::Stopped);
        }
        let Some(o) = self.library.get(&locator) else {
            return Err(Refused::Unknown);
        };
        if self.policy.admits(&o.manifest).is_err() {
            self.stats.refused_policy += 1;
            return Err(Refused::Policy);
        }
        let budget = self.policy.budget.grant(o.manifest.budget);
        let seed = self.seed ^ fold(locator);
        let sandbox = match self.runtime.instantiate(&o.code, budget, seed) {
            Ok(s) => s,
            Err(_) => {
                self.stats.refused_install += 1;
                return Err(Refused::Install);
            }
        };
        if self.installed.len() >= MAX_INSTALLED {
            let lru = (0..self.installed.len()).min_by_key(|&i| self.installed[i].used);
            if let Some(i) = lru {
                self.installed.swap_remove(i);
                self.stats.evicted += 1;
            }
        }
        self.stats.installed += 1;
        self.installed.push(Installed {
            locator,
            manifest: o.manifest.clone(),
            sandbox,
            used: self.clock,
            calls: 0,
            fuel: 0,
            faults: 0,
            in_a_row: 0,
        });
        self.push_event(PeerletEvent::Installed {
            locator,
            app: o.manifest.app,
        });
        Ok(self.installed.len() - 1)
    }

    /// Books a call's outcome; its effects, if it completed.
    fn settle<T>(&mut self, i: usize, r: Result<(Effects, T), Fault>) -> Option<(Effects, T)> {
        self.stats.calls += 1;
        let p = &mut self.installed[i];
        p.calls += 1;
        match r {
            Ok((e, v)) => {
                p.in_a_row = 0;
                p.fuel += e.fuel;
                self.stats.fuel += e.fuel;
                self.stats.sends_refused += u64::from(e.refused);
                Some((e, v))
            }
            Err(fault) => {
                p.faults += 1;
                p.in_a_row += 1;
                self.stats.faults += 1;
                let (locator, app) = (p.locator, p.manifest.app);
                if p.in_a_row >= MAX_FAULTS {
                    self.installed.swap_remove(i);
                    self.stopped.push(locator);
                    self.stats.stopped += 1;
                    self.push_event(PeerletEvent::Stopped {
                        locator,
                        app,
                        fault: fault.to_string(),
                    });
                }
                None
            }
        }
    }
}

/// Folds an id into a seed.
fn fold(id: Id) -> u64 {
    id.to_bytes().chunks(8).fold(0, |h, c| {
        h ^ c.iter().fold(0u64, |a, &b| a << 8 | u64::from(b))
    })
}

/// Why a message was not run here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    Unknown,
    Policy,
    Install,
    Stopped,
}
