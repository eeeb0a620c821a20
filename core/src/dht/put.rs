//! Puts: the client's command, the root's store and copies to the replica
//! set (PAST §2.2), the replicas' acknowledgements, and making room.

use super::msg::{Msg, Outcome};
use super::send::{Deferred, encode_and_route};
use super::{
    APP, Dht, DhtError, DhtEvent, MAX_EVENTS, MAX_SALT, Meta, Op, OpId, OpKind, PutAcks, PutError,
    Store, StoreError, signed, sync,
};
use crate::id::{Distance, Id};
use crate::identity::Keypair;
use crate::node::Kbr;
use crate::node::MAX_PAYLOAD;
use crate::peer::Peer;
use crate::time::Instant;
use core::time::Duration;

/// A short tag of an id, enough to tell a handful of replicas apart.
pub(super) fn id_tag(id: Id) -> u32 {
    let b = id.to_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) ^ u32::from_be_bytes([b[16], b[17], b[18], b[19]])
}

/// The later of two expiries (`None` is never).
fn later(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    a.zip(b).map(|(a, b)| a.max(b))
}

/// How a put is made: through secure routing or not, for how long the
/// replicas keep it, and whether it is a deletion (a tombstone).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct How {
    pub(super) secure: bool,
    pub(super) ttl: Option<Duration>,
    pub(super) deleted: bool,
}

impl How {
    pub(super) const PLAIN: How = How {
        secure: false,
        ttl: None,
        deleted: false,
    };
    #[cfg(feature = "secure-routing")]
    pub(super) const SECURE: How = How {
        secure: true,
        ..How::PLAIN
    };

    /// A plain put the replicas keep for `ttl` (`None`: until replaced).
    fn lasting(ttl: Option<Duration>) -> How {
        How { ttl, ..How::PLAIN }
    }

    fn meta(self, now: Instant, version: u64) -> Meta {
        Meta {
            version,
            deleted: self.deleted,
            expires: self.ttl.map(|t| now + t),
            ..Meta::default()
        }
    }
}

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// Stores `value` under `key` at `version` on the key's replica set.
    /// Completes with [`DhtEvent::Stored`] or [`DhtEvent::PutFailed`].
    pub fn put(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        version: u64,
        value: &[u8],
    ) -> Result<OpId, DhtError> {
        self.put_versioned((now, node), key, version, value, How::PLAIN)
    }

    /// [`Dht::put`] of a value the replicas drop after `ttl` (rounded up
    /// to a second), unless a put of the same version renews it first. A
    /// lease kept by the replicas, not a promise: a faulty replica may keep
    /// a copy longer (to take a value back for certain, [`Dht::delete`] it).
    pub fn put_expiring(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        version: u64,
        value: &[u8],
        ttl: Duration,
    ) -> Result<OpId, DhtError> {
        let how = How::lasting(Some(ttl));
        self.put_versioned((now, node), key, version, value, how)
    }

    /// [`Dht::put`], or with `Some(ttl)` [`Dht::put_expiring`]: for the
    /// client gateway and the runtimes, whose requests carry an optional
    /// time to live.
    pub(crate) fn put_for(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        (key, version): (Id, u64),
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<OpId, DhtError> {
        self.put_versioned((now, node), key, version, value, How::lasting(ttl))
    }

    /// [`Dht::put_content`], or with `Some(ttl)` [`Dht::put_content_expiring`].
    pub(crate) fn put_content_for(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(Id, OpId), DhtError> {
        self.put_hashed((now, node), value, How::lasting(ttl))
    }

    /// Deletes `key` at `version`: its replicas keep a *tombstone* in its
    /// place for [`DhtConfig::tombstone_ttl`](super::DhtConfig::tombstone_ttl),
    /// so a replica that missed the deletion cannot bring an older version
    /// back; gets find nothing. Like a put, it needs a version above the
    /// stored one ([`PutError::Stale`] otherwise), and a key holding a
    /// content-hash or signed value refuses it ([`PutError::Protected`]:
    /// a content-hash value only expires, a signed one is deleted by its
    /// owner, [`Dht::delete_signed`]). Completes as a put does.
    pub fn delete(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        version: u64,
    ) -> Result<OpId, DhtError> {
        let how = self.tombstone();
        self.put_versioned((now, node), key, version, b"", how)
    }

    /// How a deletion is put.
    pub(super) fn tombstone(&self) -> How {
        How {
            ttl: Some(self.config.tombstone_ttl),
            deleted: true,
            ..How::PLAIN
        }
    }

    pub(super) fn put_versioned(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        key: Id,
        version: u64,
        value: &[u8],
        how: How,
    ) -> Result<OpId, DhtError> {
        self.start_put(now, node, key, how.meta(now, version), value, how.secure)
    }

    /// Stores `value` under its content hash, key = SHA-1(value), which
    /// every node checks. Returns the key with the operation.
    pub fn put_content(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        value: &[u8],
    ) -> Result<(Id, OpId), DhtError> {
        self.put_hashed((now, node), value, How::PLAIN)
    }

    /// [`Dht::put_content`] of a value the replicas drop after `ttl`
    /// (see [`Dht::put_expiring`]); a content-hash value cannot be
    /// deleted, only left to expire.
    pub fn put_content_expiring(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(Id, OpId), DhtError> {
        let how = How::lasting(Some(ttl));
        self.put_hashed((now, node), value, how)
    }

    pub(super) fn put_hashed(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        value: &[u8],
        how: How,
    ) -> Result<(Id, OpId), DhtError> {
        let key = Id::sha1(value);
        let meta = Meta {
            content: true,
            ..how.meta(now, 0)
        };
        Ok((
            key,
            self.start_put(now, node, key, meta, value, how.secure)?,
        ))
    }

    /// Stores `value` as `owner`'s value named `salt`, at `version`
    /// (BEP 44): under [`signed_key`](super::signed_key)`(owner, salt)`,
    /// signed, so replicas, caches and readers check it and only `owner`
    /// can replace it (with a higher version). Returns the key with the
    /// operation.
    pub fn put_signed(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        owner: &Keypair,
        salt: &[u8],
        version: u64,
        value: &[u8],
    ) -> Result<(Id, OpId), DhtError> {
        self.start_signed_put((now, node), owner, (salt, version), value, How::PLAIN)
    }

    /// [`Dht::put_signed`] of a value the replicas drop after `ttl` (see
    /// [`Dht::put_expiring`]; the time is not signed).
    #[allow(clippy::too_many_arguments)]
    pub fn put_signed_expiring(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        owner: &Keypair,
        salt: &[u8],
        version: u64,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(Id, OpId), DhtError> {
        let how = How::lasting(Some(ttl));
        self.start_signed_put((now, node), owner, (salt, version), value, how)
    }

    /// Deletes `owner`'s value named `salt` at `version`: a tombstone
    /// signed by `owner`, so no one else can delete it and it replaces the
    /// value everywhere as a newer version does (see [`Dht::delete`]).
    pub fn delete_signed(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        owner: &Keypair,
        salt: &[u8],
        version: u64,
    ) -> Result<(Id, OpId), DhtError> {
        let how = self.tombstone();
        self.start_signed_put((now, node), owner, (salt, version), b"", how)
    }

    pub(super) fn start_signed_put(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        owner: &Keypair,
        (salt, version): (&[u8], u64),
        value: &[u8],
        how: How,
    ) -> Result<(Id, OpId), DhtError> {
        if salt.len() > MAX_SALT {
            return Err(DhtError::SaltTooLong { max: MAX_SALT });
        }
        let overhead = signed::ENVELOPE_OVERHEAD + salt.len();
        let max = Self::max_value_len(node).saturating_sub(overhead);
        if value.len() > max {
            return Err(DhtError::ValueTooLarge { max });
        }
        let mut envelope = [0u8; MAX_PAYLOAD];
        let len = signed::seal(owner, (salt, how.deleted), version, value, &mut envelope)
            .ok_or(DhtError::ValueTooLarge { max })?;
        let key = signed::signed_key(&owner.public(), salt);
        let meta = Meta {
            signed: true,
            ..how.meta(now, version)
        };
        let op = self.start_put(now, node, key, meta, &envelope[..len], how.secure)?;
        Ok((key, op))
    }

    pub(super) fn admit_op(&mut self, node: &impl Kbr) -> Result<u64, DhtError> {
        if self.config.replicas >= node.leaf_set_half() {
            // No replica set could be kept in sync (`DhtConfig::replicas`).
            return Err(DhtError::BadConfig);
        }
        if !node.is_active() {
            return Err(DhtError::NotActive);
        }
        if self.ops.is_full() || self.events.len() + self.ops.len() >= MAX_EVENTS {
            return Err(DhtError::Busy);
        }
        // 0 names maintenance traffic, never an operation.
        Ok(self.rng.next_u64().max(1))
    }

    /// A put routed to the key's root, or (`secure`) sent to each root a
    /// secure lookup finds.
    pub(super) fn start_put(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        meta: Meta,
        value: &[u8],
        secure: bool,
    ) -> Result<OpId, DhtError> {
        let max = Self::max_value_len(node);
        if value.len() > max {
            return Err(DhtError::ValueTooLarge { max });
        }
        let op = self.admit_op(node)?;
        let msg = Msg::Put {
            op,
            key,
            meta,
            here: secure,
            value,
        };
        #[cfg(feature = "secure-routing")]
        if secure {
            return self.secure_put_sent((now, node), op, key, meta.version, &msg);
        }
        encode_and_route(node, now, None, key, APP, &msg, &mut self.stats)
            .map_err(|_| DhtError::Busy)?;
        // An overlay smaller than k stores the value on every node; it can
        // not give more acks than it has nodes. The leaf set knows the whole
        // ring exactly when it covers every key (fewer than L + 1 nodes).
        let mut quorum = self.config.quorum;
        if node.covers(key) && node.covers(key.wrapping_add(Distance::HALF_RING)) {
            quorum = quorum.min(node.replica_set(key, self.config.replicas).len());
        }
        let kind = OpKind::Put(PutAcks::new(meta.version, quorum));
        self.push_op(now, op, key, kind);
        Ok(OpId(op))
    }

    pub(super) fn push_op(&mut self, now: Instant, id: u64, key: Id, kind: OpKind) {
        let deadline = now + self.config.op_timeout;
        // Room was checked in admit_op.
        let _ = self.ops.push(Op {
            id,
            key,
            deadline,
            kind,
        });
    }

    /// A client's put at the key's root: store, acknowledge, and copy to
    /// the rest of the replica set (PAST §2.2). A secure put (`here`)
    /// reached every root itself: this one only stores and acknowledges.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_put(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        client: Peer,
        (op, here): (u64, bool),
        key: Id,
        meta: Meta,
        value: &[u8],
    ) {
        let outcome = if self.quotas.take(self.config.client_quota, client.id, now) {
            self.accept((now, node), key, meta, value)
        } else {
            self.stats.quota_refused += 1;
            Outcome::OverQuota
        };
        if outcome == Outcome::Full && self.divert(now, node, key, meta, value, op, Some(client)) {
            // The value is held for us elsewhere; that node acknowledges.
            if !here {
                self.copy_to_replicas(now, node, client, op, key, meta, value);
            }
            return;
        }
        let version = meta.version;
        self.send(
            now,
            node,
            Deferred::Ack {
                to: client,
                op,
                key,
                version,
                outcome,
            },
        );
        if outcome == Outcome::Stored && !here {
            self.copy_to_replicas(now, node, client, op, key, meta, value);
        }
        if outcome == Outcome::Stored && here && !self.is_replica(node, key) {
            // A secure lookup named us a root, our leaf set says not: hand
            // the value on to the roots we know, soon (one of the two
            // views is wrong, and this repairs either).
            self.sync.soon(now, &self.config);
        }
    }

    /// The root's copies to the rest of the replica set, and to the eager
    /// spares (which ack nobody).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn copy_to_replicas(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        client: Peer,
        op: u64,
        key: Id,
        meta: Meta,
        value: &[u8],
    ) {
        let own = node.own().id;
        let k = self.config.replicas;
        for (rank, p) in node
            .replica_set(key, self.maintained(node))
            .into_iter()
            .enumerate()
        {
            if p.id == own {
                continue;
            }
            // An eager spare's copy is maintenance: it acks nobody.
            let (op, client) = if rank < k {
                (op, Some(client))
            } else {
                (0, None)
            };
            let msg = Msg::Store {
                op,
                key,
                meta,
                cache: false,
                client,
                value,
            };
            if encode_and_route(node, now, Some(p), key, APP, &msg, &mut self.stats).is_err() {
                let push = Deferred::Push {
                    to: Some(p),
                    key,
                    op,
                    client,
                };
                self.defer(push);
            }
        }
    }

    /// Stores a replica's copy after checking what its key proves (a
    /// content hash, an owner's signature); a spare makes room for it in
    /// a full store.
    pub(super) fn accept(
        &mut self,
        (now, node): (Instant, &impl Kbr),
        key: Id,
        mut meta: Meta,
        value: &[u8],
    ) -> Outcome {
        if !signed::checks(key, meta, value) {
            self.stats.forged += 1;
            return Outcome::Forged;
        }
        if let Some(old) = self.store.get(key) {
            if old.meta.expired(now) {
                // Gone already; the sweep had not come by yet.
                self.store.remove(key);
                self.stats.expired += 1;
            } else if old.meta.version == meta.version && old.value == value {
                // A re-store renews the lease, never shortens it: replicas
                // that sync an older copy do not undo the owner's renewal.
                meta.expires = later(old.meta.expires, meta.expires);
            }
        }
        // Held through a pointer: as good as stored here.
        if let Some(p) = self.sync.pointers.iter().find(|p| p.key == key) {
            if p.version > meta.version {
                self.stats.stale_refused += 1;
                return Outcome::Stale { current: p.version };
            }
            if p.version == meta.version && self.store.get(key).is_none() {
                return Outcome::Stored;
            }
        }
        let mut inserted = self.store.insert(key, meta, value);
        if inserted == Err(StoreError::Full) && self.evict_spare(node) {
            inserted = self.store.insert(key, meta, value);
        }
        match inserted {
            Ok(()) => {
                self.stats.stored += 1;
                self.stats.deleted += u64::from(meta.deleted);
                if let Some(t) = meta.expires {
                    self.sweep.due(t);
                }
                Outcome::Stored
            }
            Err(StoreError::Stale { current }) => {
                self.stats.stale_refused += 1;
                Outcome::Stale { current }
            }
            Err(StoreError::Full) => {
                self.stats.full_refused += 1;
                Outcome::Full
            }
            Err(StoreError::Protected) => {
                self.stats.protected_refused += 1;
                Outcome::Protected
            }
        }
    }

    /// Removes the spare copy farthest from this node, if it holds one.
    pub(super) fn evict_spare(&mut self, node: &impl Kbr) -> bool {
        let mine = sync::Responsibility::of(node, self.config.replicas, self.config.spares);
        let own = node.own().id;
        let mut victim: Option<Id> = None;
        let mut cur = self.store.first_from(Id::ZERO);
        while let Some((key, meta)) = cur {
            cur = self.store.next_after(key);
            let spare = !meta.diverted && !mine.holds(node, key) && mine.keeps(node, key);
            let farther = victim.is_none_or(|v| key.ring_distance(own) > v.ring_distance(own));
            if spare && farther {
                victim = Some(key);
            }
        }
        let Some(key) = victim else { return false };
        self.store.remove(key);
        self.stats.spares_evicted += 1;
        true
    }

    pub(super) fn on_store_ack(
        &mut self,
        source: Peer,
        op: u64,
        key: Id,
        version: u64,
        outcome: Outcome,
    ) -> Option<DhtEvent<'static>> {
        if op == 0 {
            // The ack of a value handed off: the replica holds it.
            let held = match outcome {
                Outcome::Stored => Some(version),
                Outcome::Stale { current } => Some(current),
                _ => None,
            };
            if let Some(v) = held {
                self.sync.confirm_key(source, key, v);
            }
            return None;
        }
        let i = self.find_op(op, key, OpKind::is_put)?;
        let PutAcks {
            version: v,
            acks,
            ackers,
            quorum,
        } = self.ops[i].kind.put_acks_mut()?;
        if *v != version {
            return None;
        }
        let error = match outcome {
            Outcome::Stored => {
                let tag = id_tag(source.id);
                let n = usize::from(*acks);
                if ackers[..n.min(8)].contains(&tag) {
                    return None;
                }
                if n < 8 {
                    ackers[n] = tag;
                }
                *acks += 1;
                if *acks < *quorum {
                    return None;
                }
                let replicas = *acks;
                self.ops.swap_remove(i);
                return Some(DhtEvent::Stored {
                    op: OpId(op),
                    key,
                    replicas,
                });
            }
            // A full replica does not count; the others may still do.
            Outcome::Full => return None,
            Outcome::Stale { current } => PutError::Stale { current },
            Outcome::Forged => PutError::Forged,
            Outcome::Protected => PutError::Protected,
            Outcome::OverQuota => PutError::OverQuota,
        };
        self.ops.swap_remove(i);
        Some(DhtEvent::PutFailed {
            op: OpId(op),
            key,
            error,
        })
    }
}
