//! Sending: a message goes now if the node has room, else it waits
//! (bounded) as a description and is encoded when the host offers room
//! ([`Application::on_room`](crate::Application::on_room)).

use super::msg::{Msg, Outcome};
use super::{APP, Dht, DhtStats, LOOKUP_APP, MAX_DEFERRED, Store, sync};
use crate::id::Id;
use crate::node::{CommandError, Kbr};
use crate::peer::Peer;
use crate::routing::KeyRange;
use crate::time::Instant;
use crate::wire::AppId;

/// A message that waits for room in the node: a description, encoded
/// (values read from the store) when it goes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Deferred {
    /// To a replica, or (`None`) routed to the key's root.
    Push {
        to: Option<Peer>,
        key: Id,
        op: u64,
        client: Option<Peer>,
    },
    Ack {
        to: Peer,
        op: u64,
        key: Id,
        version: u64,
        outcome: Outcome,
    },
    /// An answer from the store or the cache.
    Value {
        to: Peer,
        op: u64,
        key: Id,
        from_cache: bool,
    },
    /// A copy for the cache of the node before us on a lookup's path.
    CachePush {
        to: Peer,
        key: Id,
    },
    NotFound {
        to: Peer,
        op: u64,
        key: Id,
    },
    /// To a replica, or (`None`) on towards the key's root.
    Get {
        to: Option<Peer>,
        op: u64,
        key: Id,
        min_version: u64,
        tried: u8,
        client: Peer,
    },
    Digest {
        to: Peer,
        range: KeyRange,
    },
    Match {
        to: Peer,
        range: KeyRange,
    },
    Listing {
        to: Peer,
        range: KeyRange,
    },
}

impl Deferred {
    /// Where it goes (a node, or the root of the key), and under which
    /// application.
    pub(super) fn destination(&self) -> (Option<Peer>, Id, AppId) {
        match *self {
            Deferred::Push { to, key, .. } => (to, key, APP),
            Deferred::Get { to, key, .. } => (to, key, LOOKUP_APP),
            Deferred::Ack { to, .. }
            | Deferred::Value { to, .. }
            | Deferred::CachePush { to, .. }
            | Deferred::NotFound { to, .. }
            | Deferred::Digest { to, .. }
            | Deferred::Match { to, .. }
            | Deferred::Listing { to, .. } => (Some(to), to.id, APP),
        }
    }

    /// Replica maintenance, which the next round repeats if it is lost.
    pub(super) fn is_maintenance(&self) -> bool {
        match self {
            Deferred::Push { op, .. } => *op == 0,
            Deferred::Digest { .. } | Deferred::Match { .. } | Deferred::Listing { .. } => true,
            _ => false,
        }
    }
}

/// Message slots maintenance leaves free in the node.
const MAINTENANCE_RESERVE: usize = 4;

/// Encodes `msg` and routes it straight to `to` (to its id, through it
/// first), or with no `to` to the root of `key`.
pub(super) fn encode_and_route(
    node: &mut impl Kbr,
    now: Instant,
    to: Option<Peer>,
    key: Id,
    app: AppId,
    msg: &Msg<'_>,
    stats: &mut DhtStats,
) -> Result<(), CommandError> {
    let len = node.route_encoded(now, to.map_or(key, |p| p.id), app, to, |b| {
        msg.encode(b, now)
    })?;
    stats.sent += 1;
    stats.sent_bytes += len as u64;
    Ok(())
}

/// Encodes `msg` and hands it to the node's secure routing, to each of
/// `key`'s `replicas` roots; the lookup's id.
#[cfg(feature = "secure-routing")]
pub(super) fn encode_and_secure_route(
    (node, now): (&mut impl Kbr, Instant),
    key: Id,
    app: AppId,
    msg: &Msg<'_>,
    replicas: usize,
    stats: &mut DhtStats,
) -> Result<u64, CommandError> {
    let (id, len) = node.secure_route_encoded(now, key, app, replicas, |b| msg.encode(b, now))?;
    stats.sent += 1;
    stats.sent_bytes += len as u64;
    Ok(id)
}

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// Sends `d` now if the node has room, else keeps it for later.
    /// Maintenance may fill only half the wait list, so a transfer of many
    /// values never crowds out answers to clients; what it cannot send
    /// goes in the next round, which is brought forward.
    /// Whether it was sent or kept.
    pub(super) fn send(&mut self, now: Instant, node: &mut impl Kbr, d: Deferred) -> bool {
        if self.deferred.is_empty() && self.try_send(now, node, d) {
            return true;
        }
        if d.is_maintenance() && self.maintenance_full() {
            self.stats.dropped += 1;
            self.sync.soon(now, &self.config);
            return false;
        }
        self.defer(d)
    }

    /// Whether maintenance has used its share of the wait list.
    pub(super) fn maintenance_full(&self) -> bool {
        self.deferred.len() >= MAX_DEFERRED / 2
    }

    pub(super) fn defer(&mut self, d: Deferred) -> bool {
        if self.deferred.push_back(d).is_err() {
            self.stats.dropped += 1;
            return false;
        }
        self.stats.deferred += 1;
        true
    }

    /// Sends the waiting messages the node takes, in order; maintenance
    /// held back by the reserve does not hold up answers behind it.
    pub(super) fn flush(&mut self, now: Instant, node: &mut impl Kbr) {
        for _ in 0..self.deferred.len() {
            let Some(d) = self.deferred.pop_front() else {
                break;
            };
            if !self.try_send(now, node, d) {
                // Room was counted when it was taken out.
                let _ = self.deferred.push_back(d);
            }
        }
    }

    /// Encodes and routes one described message; false if the node had no
    /// room (it is kept). A message whose value is gone is dropped.
    pub(super) fn try_send(&mut self, now: Instant, node: &mut impl Kbr, d: Deferred) -> bool {
        if d.is_maintenance() && node.route_room() <= MAINTENANCE_RESERVE {
            // Keep room in the node for clients' operations and answers.
            return false;
        }
        let (to, key, app) = d.destination();
        // Only a listing needs room for its entries.
        let mut entries: [u8; sync::LISTING_BYTES];
        let msg = match d {
            Deferred::Push {
                key, op, client, ..
            } => self
                .store
                .get(key)
                .filter(|it| !it.meta.expired(now))
                .map(|it| Msg::Store {
                    op,
                    key,
                    meta: it.meta,
                    cache: false,
                    client,
                    value: it.value,
                }),
            Deferred::Ack {
                op,
                key,
                version,
                outcome,
                ..
            } => Some(Msg::StoreAck {
                op,
                key,
                version,
                outcome,
            }),
            Deferred::Value {
                op,
                key,
                from_cache,
                ..
            } => {
                let it = match from_cache {
                    false => self.store.get(key),
                    true => self.cache.get(key, now),
                };
                Some(
                    match it.filter(|it| !it.meta.deleted && !it.meta.expired(now)) {
                        Some(it) => Msg::Value {
                            op,
                            key,
                            meta: it.meta,
                            cached: from_cache,
                            value: it.value,
                        },
                        None => Msg::NotFound { op, key },
                    },
                )
            }
            Deferred::CachePush { key, .. } => {
                let it = self.store.get(key).or_else(|| self.cache.get(key, now));
                let it = it.filter(|it| !it.meta.deleted && !it.meta.expired(now));
                it.map(|it| Msg::Store {
                    op: 0,
                    key,
                    meta: it.meta,
                    cache: true,
                    client: None,
                    value: it.value,
                })
            }
            Deferred::NotFound { op, key, .. } => Some(Msg::NotFound { op, key }),
            Deferred::Get {
                op,
                key,
                min_version,
                tried,
                client,
                ..
            } => Some(Msg::Get {
                op,
                key,
                min_version,
                tried,
                client: Some(client),
            }),
            Deferred::Digest { range, .. } => Some(self.sync.digest_msg(&self.store, range)),
            Deferred::Match { range, .. } => Some(Msg::Match { range }),
            Deferred::Listing { range, .. } => {
                entries = [0u8; sync::LISTING_BYTES];
                Some(sync::listing_msg(
                    &self.store,
                    &self.sync.pointers,
                    range,
                    &mut entries,
                ))
            }
        };
        // A value gone since the message was described: nothing to send.
        let r = match msg {
            Some(msg) => encode_and_route(node, now, to, key, app, &msg, &mut self.stats),
            None => Ok(()),
        };
        match r {
            Ok(()) => true,
            Err(CommandError::PoolFull | CommandError::QueueFull) => false,
            // Not active, or a message that cannot be sent at all: drop.
            Err(_) => {
                self.stats.dropped += 1;
                true
            }
        }
    }
}
