//! How a message for a peerlet is handled where it lands: run (at the
//! root, or on the way for a per-hop one), handed to the next replica-set
//! member, or refused back to its origin; and what a run asks the node to
//! send.

use pastry_core::node::{AppPolicy, CommandError, Event, ForwardHop, Forwarder, Kbr, Verdict};
use pastry_core::stack::runtime::HostedApp;
use pastry_core::{AppId, Id, Instant};

use super::fetch::Waiting;
use super::{FALL_OVER, MAX_QUEUE, Peerlets, Refused, To};
use crate::envelope::{Envelope, Kind};
use crate::event::PeerletEvent;
use crate::manifest::APP_IDS;
use crate::sandbox::{Effects, Forward, Send};

/// The node's `forward` upcall for peerlets: a per-hop peerlet's message
/// is handed to [`Peerlets`] at every node on its path (the node routes
/// every other application's messages as before). Chain it before a
/// user's own forwarder.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hops;

impl Forwarder for Hops {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        // Not at the node that sent it (or sent it on): there the peerlet
        // already ran, and handing it back would loop.
        if hop.hops > 0 && APP_IDS.contains(&hop.app.0) && Envelope::decode(hop.payload).is_some() {
            Verdict::Deliver
        } else {
            Verdict::Continue
        }
    }
}

impl Peerlets {
    /// Carries out a call's effects: its sends and log lines.
    fn apply(
        &mut self,
        now: Instant,
        node: &mut dyn Kbr,
        i: usize,
        env: &Envelope<'_>,
        e: Effects,
    ) {
        let (app, locator) = (self.installed[i].manifest.app, self.installed[i].locator);
        for line in e.logs {
            self.push_event(PeerletEvent::Log { app, line });
        }
        for s in e.sends {
            let (to, bytes) = match s {
                Send::Route { key, payload } => {
                    self.note_asked(now, locator, key);
                    let out = Envelope::message(locator, key, node.own(), &payload);
                    (To::Key(key), out.encode())
                }
                Send::Reply { payload } => {
                    let out = Envelope {
                        kind: Kind::Reply,
                        payload: &payload,
                        ..*env
                    };
                    (To::Peer(env.origin), out.encode())
                }
            };
            self.stats.sends += 1;
            self.transmit(now, node, (to, app), bytes);
        }
    }

    /// Sends now, or queues while the node has no room.
    fn transmit(
        &mut self,
        now: Instant,
        node: &mut dyn Kbr,
        (to, app): (To, AppId),
        bytes: Vec<u8>,
    ) {
        if self.outbox.is_empty() && try_send(now, node, to, app, &bytes) {
            return;
        }
        if self.outbox.len() < MAX_QUEUE {
            self.outbox.push_back((to, app, bytes));
        } else {
            self.stats.sends_refused += 1;
        }
    }

    pub(super) fn push_event(&mut self, ev: PeerletEvent) {
        if self.events.len() < MAX_QUEUE {
            self.events.push_back(ev);
        }
    }

    /// A message for a peerlet at a node where it should be delivered.
    pub(super) fn arrive(
        &mut self,
        now: Instant,
        node: &mut dyn Kbr,
        (app, env): (AppId, Envelope<'_>),
    ) {
        let i = match self.ready(env.locator) {
            Ok(i) => i,
            Err(Refused::Unknown) => {
                let w = Waiting::Arrived {
                    app,
                    envelope: env.encode(),
                };
                if !self.wait_for(now, env.locator, w) {
                    self.stats.refused_unknown += 1;
                    self.fall_over(now, node, app, env);
                }
                return;
            }
            Err(_) => return self.fall_over(now, node, app, env),
        };
        let view = Self::view(node);
        let mut payload = env.payload.to_vec();
        if self.installed[i].manifest.per_hop {
            let p = &mut self.installed[i].sandbox;
            let r = p.forward((now, &view), (env.key, env.origin.id, None), &payload);
            let Some((e, verdict)) = self.settle(i, r) else {
                return;
            };
            self.apply(now, node, i, &env, e);
            match verdict {
                Forward::Stop => return,
                Forward::Continue => {}
                Forward::Replace(p) => payload = p,
            }
        }
        // Still installed (a fault may have stopped it), with an entry.
        let Some(i) = self.installed.iter().position(|p| p.locator == env.locator) else {
            return;
        };
        if !self.installed[i].sandbox.is_end_node() {
            return;
        }
        let p = &mut self.installed[i].sandbox;
        let r = p.deliver((now, &view), env.key, env.origin.id, &payload);
        if let Some((e, ())) = self.settle(i, r.map(|e| (e, ()))) {
            self.apply(now, node, i, &env, e);
        }
    }

    /// A per-hop peerlet's message passing this node.
    fn pass(&mut self, now: Instant, node: &mut dyn Kbr, (app, env): (AppId, Envelope<'_>)) {
        let forward_on = |this: &mut Peerlets, node: &mut dyn Kbr, payload: &[u8]| {
            mark(node, app, true);
            let bytes = env.with_payload(payload).encode();
            this.transmit(now, node, (To::Key(env.key), app), bytes);
        };
        // A node that does not run it (or cannot) passes it on unchanged:
        // per-hop work is a service, refusing it must not lose the message.
        let i = match self.ready(env.locator) {
            Ok(i) => i,
            Err(why) => {
                if why == Refused::Unknown {
                    // For the messages after this one.
                    self.prefetch(now, env.locator);
                }
                return forward_on(self, node, env.payload);
            }
        };
        let view = Self::view(node);
        let next = node.local_lookup(env.key, 1).first().map(|p| p.id);
        let p = &mut self.installed[i].sandbox;
        let r = p.forward((now, &view), (env.key, env.origin.id, next), env.payload);
        let Some((e, verdict)) = self.settle(i, r) else {
            return;
        };
        self.apply(now, node, i, &env, e);
        match verdict {
            Forward::Stop => {}
            Forward::Continue => forward_on(self, node, env.payload),
            Forward::Replace(p) => forward_on(self, node, &p),
        }
    }

    /// PROST's fall-over: hand the message to the next member of the
    /// key's replica set, the closest to the key that is farther from it
    /// than this node (so the walk only goes outwards, whatever each
    /// member's view); tell the origin when none is left. The set is as
    /// large as every member can know: at most half a leaf set and one.
    pub(super) fn fall_over(
        &mut self,
        now: Instant,
        node: &mut dyn Kbr,
        app: AppId,
        env: Envelope<'_>,
    ) {
        let own = node.own().id;
        let size = FALL_OVER.min(node.leaf_set_half() + 1);
        let members = node.replica_set(env.key, size);
        let next = members
            .iter()
            .find(|p| env.key.cmp_closeness(p.id, own) == core::cmp::Ordering::Greater)
            .filter(|_| usize::from(env.tried) + 1 < size);
        let (to, out) = match next {
            Some(&p) => {
                self.stats.fall_overs += 1;
                let out = Envelope {
                    tried: env.tried + 1,
                    ..env
                };
                (To::Peer(p), out)
            }
            None => {
                self.stats.refusals_sent += 1;
                let out = Envelope {
                    kind: Kind::Refused,
                    payload: &[],
                    ..env
                };
                (To::Peer(env.origin), out)
            }
        };
        self.transmit(now, node, (to, app), out.encode());
    }
}

/// Marks `app`'s messages per-hop (or not) in the node's policy, so the
/// node routes them as the peerlet needs. A full policy table leaves it
/// as it is (end-node): the message still arrives.
pub(super) fn mark(node: &mut dyn Kbr, app: AppId, per_hop: bool) {
    let _ = node.set_policy(
        app,
        AppPolicy {
            allow: true,
            per_hop,
            receipts: true,
        },
    );
}

fn try_send(now: Instant, node: &mut dyn Kbr, to: To, app: AppId, bytes: &[u8]) -> bool {
    let r = match to {
        To::Key(key) => node.route(now, key, app, bytes, None),
        To::Peer(p) if p.id == node.own().id => node.route(now, p.id, app, bytes, None),
        To::Peer(p) => node.send_to(now, p, app, bytes),
    };
    // Refused for good (too large, not active): dropped, like a fault.
    !matches!(r, Err(CommandError::PoolFull | CommandError::QueueFull))
}

impl HostedApp for Peerlets {
    fn handle_event(&mut self, now: Instant, node: &mut dyn Kbr, ev: Event<'_>) -> bool {
        let Event::Deliver(d) = ev else {
            return false;
        };
        if !APP_IDS.contains(&d.app.0) {
            return false;
        }
        let Some(env) = Envelope::decode(d.payload) else {
            self.stats.malformed += 1;
            return true;
        };
        let answer = matches!(env.kind, Kind::Reply | Kind::Refused);
        // An answer comes straight from the node that gives it, to a node
        // that asked: anything else is forged or stale.
        let believed = (d.authenticated || !node.verifies_peers())
            && self.was_asked(now, env.locator, env.key);
        if answer && !believed {
            self.stats.unsolicited += 1;
            return true;
        }
        match env.kind {
            Kind::Reply => self.push_event(PeerletEvent::Reply {
                locator: env.locator,
                key: env.key,
                from: d.source.id,
                payload: env.payload.to_vec(),
            }),
            Kind::Refused => self.push_event(PeerletEvent::Refused {
                locator: env.locator,
                key: env.key,
            }),
            Kind::Message => {
                let own = node.own().id;
                // Handed over by a member that refused it, or at the root.
                let handed = d.key != env.key;
                // Elsewhere only a per-hop message is handed over ([`Hops`]).
                let root = node
                    .replica_set(env.key, 1)
                    .first()
                    .is_none_or(|p| p.id == own);
                if handed || root {
                    self.arrive(now, node, (d.app, env));
                } else {
                    self.pass(now, node, (d.app, env));
                }
            }
        }
        true
    }

    fn poll_event(&mut self) -> Option<Vec<u8>> {
        self.events.pop_front().map(|e| e.encode())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.installed
            .iter()
            .filter_map(|i| i.sandbox.timer())
            .min()
    }

    fn handle_timeout(&mut self, now: Instant, node: &mut dyn Kbr) {
        let due: Vec<Id> = (self.installed.iter())
            .filter(|p| p.sandbox.timer().is_some_and(|t| t <= now))
            .map(|p| p.locator)
            .collect();
        if due.is_empty() {
            return;
        }
        let view = Self::view(node);
        for locator in due {
            // Looked up each time: a fault may have removed an earlier one.
            let Some(i) = self.installed.iter().position(|p| p.locator == locator) else {
                continue;
            };
            let r = self.installed[i].sandbox.on_timer(now, &view);
            let r = r.map(|e| (e.unwrap_or_default(), ()));
            if let Some((e, ())) = self.settle(i, r) {
                let env = Envelope::message(locator, view.own, node.own(), &[]);
                self.apply(now, node, i, &env, e);
            }
        }
    }

    fn poll_fetch(&mut self) -> Option<Id> {
        self.next_fetch()
    }

    fn fetched(&mut self, now: Instant, node: &mut dyn Kbr, key: Id, value: Option<&[u8]>) {
        self.on_fetched(now, node, key, value);
    }

    fn waits_for_room(&self) -> bool {
        !self.outbox.is_empty()
    }

    fn on_room(&mut self, now: Instant, node: &mut dyn Kbr) {
        while let Some((to, app, bytes)) = self.outbox.pop_front() {
            if !try_send(now, node, to, app, &bytes) {
                self.outbox.push_front((to, app, bytes));
                return;
            }
        }
    }
}
