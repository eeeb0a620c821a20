//! Deployment by content hash: a node that meets a peerlet it does not
//! hold fetches its manifest (the locator is the manifest's content key),
//! checks the provider's signature and its own policy, then fetches the
//! module's chunks (each under its content key), checks the module against
//! the manifest, and runs the messages that waited for it. Reads go
//! through the runtime's DHT ([`HostedApp::poll_fetch`]); every value is
//! checked against its hash there and here, so a replica can withhold code
//! but never change it.
//!
//! Bounded: [`MAX_FETCHING`] peerlets at once, [`MAX_WAITING`] messages
//! waiting for them; a locator that failed is not fetched again for
//! [`RETRY_AFTER`], and its messages fall over at once meanwhile.
//!
//! [`HostedApp::poll_fetch`]: pastry_core::stack::runtime::HostedApp::poll_fetch

use core::time::Duration;

use pastry_core::node::Kbr;
use pastry_core::{AppId, Id, Instant};

use super::Peerlets;
use crate::envelope::Envelope;
use crate::event::PeerletEvent;
use crate::manifest::Manifest;

/// Peerlets fetched at once.
pub const MAX_FETCHING: usize = 4;
/// Messages waiting for a peerlet's code, over all fetches.
pub const MAX_WAITING: usize = 64;
/// How long a locator that could not be fetched (or was refused) is not
/// asked for again.
pub const RETRY_AFTER: Duration = Duration::from_secs(60);
/// Locators remembered as failed.
const MAX_FAILED: usize = 64;

/// What waits for a peerlet's code.
#[derive(Debug)]
pub(super) enum Waiting {
    /// A message that landed here (its envelope's bytes).
    Arrived { app: AppId, envelope: Vec<u8> },
    /// The user's message to the peerlet.
    Send { key: Id, payload: Vec<u8> },
}

/// One peerlet being fetched.
#[derive(Debug)]
pub(super) struct Fetching {
    locator: Id,
    /// The manifest, once fetched and its signature checked.
    manifest: Option<Manifest>,
    chunks: Vec<Option<Vec<u8>>>,
    waiting: Vec<Waiting>,
    /// Fetched to run later messages (a relay's), with none waiting.
    prefetch: bool,
}

/// The fetch state of a node's peerlets.
#[derive(Debug, Default)]
pub(super) struct Fetches {
    fetching: Vec<Fetching>,
    /// Keys to ask the DHT for, in order.
    wants: std::collections::VecDeque<Id>,
    failed: std::collections::VecDeque<(Id, Instant)>,
}

impl Fetches {
    fn waiting(&self) -> usize {
        self.fetching.iter().map(|f| f.waiting.len()).sum()
    }
}

impl Peerlets {
    /// Keeps `w` until the peerlet under `locator` is fetched; `false` if
    /// it cannot wait (fetched in vain lately, or no room).
    pub(super) fn wait_for(&mut self, now: Instant, locator: Id, w: Waiting) -> bool {
        let f = &mut self.fetches;
        f.failed.retain(|&(_, until)| until > now);
        if f.failed.iter().any(|&(l, _)| l == locator) || f.waiting() >= MAX_WAITING {
            return false;
        }
        if let Some(x) = f.fetching.iter_mut().find(|x| x.locator == locator) {
            x.waiting.push(w);
            return true;
        }
        if f.fetching.len() >= MAX_FETCHING {
            return false;
        }
        f.wants.push_back(locator);
        f.fetching.push(Fetching {
            locator,
            manifest: None,
            chunks: Vec::new(),
            waiting: vec![w],
            prefetch: false,
        });
        true
    }

    /// Starts fetching `locator` with nothing waiting (a relay that passed
    /// a per-hop message on unchanged, to run the next one).
    pub(super) fn prefetch(&mut self, now: Instant, locator: Id) {
        let f = &mut self.fetches;
        f.failed.retain(|&(_, until)| until > now);
        let known = f.fetching.iter().any(|x| x.locator == locator)
            || f.failed.iter().any(|&(l, _)| l == locator);
        if !known && f.fetching.len() < MAX_FETCHING {
            f.wants.push_back(locator);
            f.fetching.push(Fetching {
                locator,
                manifest: None,
                chunks: Vec::new(),
                waiting: Vec::new(),
                prefetch: true,
            });
        }
    }

    /// The next key to read from the DHT.
    pub(super) fn next_fetch(&mut self) -> Option<Id> {
        let key = self.fetches.wants.pop_front()?;
        self.stats.fetches += 1;
        Some(key)
    }

    /// A value read for a fetch (or `None`: not found, or the read failed).
    pub(super) fn on_fetched(
        &mut self,
        now: Instant,
        node: &mut dyn Kbr,
        key: Id,
        value: Option<&[u8]>,
    ) {
        let fs = &mut self.fetches.fetching;
        if let Some(i) = fs
            .iter()
            .position(|f| f.locator == key && f.manifest.is_none())
        {
            let checked = value
                .filter(|v| Id::sha1(v) == key)
                .and_then(|v| Manifest::open(v).ok());
            let Some(m) = checked else {
                let f = self.fetches.fetching.swap_remove(i);
                return self.give_up(now, node, f);
            };
            // Sending to a peerlet needs only its manifest.
            self.learn(key, &m);
            let f = &mut self.fetches.fetching[i];
            let (sends, arrived): (Vec<_>, Vec<_>) = core::mem::take(&mut f.waiting)
                .into_iter()
                .partition(|w| matches!(w, Waiting::Send { .. }));
            f.waiting = arrived;
            let run_here = !f.waiting.is_empty() || f.prefetch;
            self.release(now, node, key, sends, true);
            let Some(i) = self.fetches.fetching.iter().position(|f| f.locator == key) else {
                return;
            };
            if !run_here {
                self.fetches.fetching.swap_remove(i);
                return;
            }
            if self.policy.admits(&m).is_err() {
                // Not worth the code's bytes: refused here anyway.
                self.stats.refused_policy += 1;
                let f = self.fetches.fetching.swap_remove(i);
                return self.give_up(now, node, f);
            }
            let f = &mut self.fetches.fetching[i];
            f.chunks = vec![None; m.chunks.len()];
            self.fetches.wants.extend(m.chunks.iter().copied());
            f.manifest = Some(m);
            return;
        }
        let holds = |f: &Fetching| f.manifest.as_ref().is_some_and(|m| m.chunks.contains(&key));
        let Some(i) = fs.iter().position(holds) else {
            return;
        };
        let Some(v) = value.filter(|v| Id::sha1(v) == key) else {
            let f = fs.swap_remove(i);
            return self.give_up(now, node, f);
        };
        let f = &mut fs[i];
        let Some(m) = &f.manifest else { return };
        for (slot, _) in f
            .chunks
            .iter_mut()
            .zip(&m.chunks)
            .filter(|(_, c)| **c == key)
        {
            *slot = Some(v.to_vec());
        }
        if f.chunks.iter().any(Option::is_none) {
            return;
        }
        let mut f = fs.swap_remove(i);
        let code: Vec<u8> = core::mem::take(&mut f.chunks)
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        let m = f
            .manifest
            .take()
            .expect("chunks are asked for once the manifest is in");
        if m.check_code(&code).is_err() {
            // The chunks are each what their hashes say, and together not
            // what the manifest says: a provider's mistake, or a forgery.
            return self.give_up(now, node, f);
        }
        // The signature was checked when the manifest came in.
        self.shelve(f.locator, m, code);
        self.stats.fetched += 1;
        self.release(now, node, f.locator, f.waiting, true);
    }

    /// A fetch failed: its messages fall over (or, the user's, are
    /// refused), and it is not asked for again for a while.
    fn give_up(&mut self, now: Instant, node: &mut dyn Kbr, f: Fetching) {
        self.stats.fetch_failures += 1;
        if self.fetches.failed.len() >= MAX_FAILED {
            self.fetches.failed.pop_front();
        }
        self.fetches
            .failed
            .push_back((f.locator, now + RETRY_AFTER));
        self.release(now, node, f.locator, f.waiting, false);
    }

    /// Runs (`ready`) or refuses what waited for `locator`.
    fn release(
        &mut self,
        now: Instant,
        node: &mut dyn Kbr,
        locator: Id,
        waiting: Vec<Waiting>,
        ready: bool,
    ) {
        for w in waiting {
            match w {
                Waiting::Arrived { app, envelope } => {
                    let Some(env) = Envelope::decode(&envelope) else {
                        continue;
                    };
                    if ready {
                        self.arrive(now, node, (app, env));
                    } else {
                        self.fall_over(now, node, app, env);
                    }
                }
                Waiting::Send { key, payload } => {
                    if !ready || self.send(now, node, (locator, key), &payload).is_err() {
                        self.push_event(PeerletEvent::Refused { locator, key });
                    }
                }
            }
        }
    }
}
