//! Gets: the client's command, answers at the root or on the way (PAST
//! §4's caching along the route), asking the next replica before saying
//! not found, and the client's check of what comes back.

use super::msg::{self, Msg};
use super::send::{Deferred, encode_and_route};
use super::{Dht, DhtError, DhtEvent, LOOKUP_APP, MAX_SALT, Meta, OpId, OpKind, Store, signed};
use crate::id::Id;
use crate::identity::PublicKey;
use crate::node::Kbr;
use crate::peer::Peer;
use crate::time::Instant;

/// The key of `owner`'s value named `salt`, if the salt is short enough.
pub(super) fn signed_get_key(owner: &PublicKey, salt: &[u8]) -> Result<Id, DhtError> {
    if salt.len() > MAX_SALT {
        return Err(DhtError::SaltTooLong { max: MAX_SALT });
    }
    Ok(signed::signed_key(owner, salt))
}

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// Looks `key` up. Completes with [`DhtEvent::Found`],
    /// [`DhtEvent::NotFound`] or [`DhtEvent::GetTimedOut`].
    pub fn get(&mut self, now: Instant, node: &mut impl Kbr, key: Id) -> Result<OpId, DhtError> {
        self.start_get(now, node, key, false, false)
    }

    /// Looks up a content-hash key: a value that does not hash to `key` is
    /// refused even if it claims not to be content-addressed.
    pub fn get_content(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
    ) -> Result<OpId, DhtError> {
        self.start_get(now, node, key, true, false)
    }

    /// Looks up `owner`'s value named `salt` (BEP 44): only a value
    /// `owner` signed answers it, whoever stored or cached it. Returns the
    /// key ([`signed_key`](super::signed_key)) with the operation.
    pub fn get_signed(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        owner: &PublicKey,
        salt: &[u8],
    ) -> Result<(Id, OpId), DhtError> {
        let key = signed_get_key(owner, salt)?;
        Ok((key, self.start_get(now, node, key, false, true)?))
    }

    pub(super) fn start_get(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        content: bool,
        signed: bool,
    ) -> Result<OpId, DhtError> {
        let op = self.admit_op(node)?;
        let msg = Msg::Get {
            op,
            key,
            min_version: 0,
            tried: 0,
            client: None,
        };
        encode_and_route(node, now, None, key, LOOKUP_APP, &msg, &mut self.stats)
            .map_err(|_| DhtError::Busy)?;
        let kind = OpKind::Get {
            min_version: 0,
            content,
            signed,
            retried: false,
        };
        self.push_op(now, op, key, kind);
        Ok(OpId(op))
    }

    /// Caches a copy met on a lookup's path, after checking what its key
    /// proves unless the caller just did (`checked`). A node that verifies
    /// its peers caches only values that prove themselves: a cache pusher
    /// is no replica of the key, and nothing else vouches for its copy.
    pub(super) fn cache_copy(
        &mut self,
        (now, node): (Instant, &impl Kbr),
        key: Id,
        meta: Meta,
        value: &[u8],
        checked: bool,
    ) {
        if !checked && !signed::checks(key, meta, value) {
            self.stats.forged += 1;
            return;
        }
        if node.verifies_peers() && !signed::proven(meta) {
            self.stats.not_cached += 1;
            return;
        }
        if meta.deleted || meta.expired(now) {
            return;
        }
        // A cached copy lives no longer than the value.
        let left = meta.expires.map(|t| t.saturating_duration_since(now));
        let ttl = left.map_or(self.config.cache_ttl, |l| l.min(self.config.cache_ttl));
        if self.store.get(key).is_none() {
            self.cache.insert(key, meta, value, now, ttl);
        }
    }

    /// A get at the key's root (or at the next replica, `tried` of them
    /// having lacked it): answer, or ask the next replica, or say not found.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_get(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        source: Peer,
        op: u64,
        key: Id,
        min_version: u64,
        tried: u8,
        client: Option<Peer>,
    ) {
        let client = client.unwrap_or(source);
        #[cfg(feature = "adversary")]
        if self.fake_answer(now, node, client, op, key) {
            return;
        }
        let on_the_way = tried & msg::ON_THE_WAY != 0;
        let tried = tried & !msg::ON_THE_WAY;
        self.stats.gets_on_the_way += u64::from(on_the_way);
        // On the way, only a replica's copy answers: a spare's or one being
        // handed off is not kept up to date.
        let held = self
            .store
            .get(key)
            .map(|it| it.meta)
            .filter(|m| !m.expired(now))
            .filter(|_| !on_the_way || self.is_replica(node, key));
        let cached = self.cache.get(key, now).map(|it| it.meta.version);
        let deleted = held.filter(|m| m.deleted && m.version >= min_version);
        if deleted.is_some_and(|m| cached.is_none_or(|c| c <= m.version)) {
            // Deleted at a version the client accepts: no other replica
            // need be asked.
            self.stats.gets_served += 1;
            self.stats.gets_answered_on_the_way += u64::from(on_the_way);
            self.not_found(now, node, client, (op, key));
            return;
        }
        let stored = held.filter(|m| !m.deleted).map(|m| m.version);
        let best = match (stored, cached) {
            (Some(s), Some(c)) if c > s => Some((c, true)),
            (Some(s), _) => Some((s, false)),
            (None, c) => c.map(|c| (c, true)),
        };
        if let Some((_, from_cache)) = best.filter(|(v, _)| *v >= min_version) {
            self.stats.gets_served += 1;
            self.stats.gets_served_from_cache += u64::from(from_cache);
            self.stats.gets_answered_on_the_way += u64::from(on_the_way);
            let answer = Deferred::Value {
                to: client,
                op,
                key,
                from_cache,
            };
            self.send(now, node, answer);
            // PAST §4: the node before us on the path caches it for
            // later lookups (the client caches what it gets itself).
            if source.id != client.id && tried == 0 && !self.config.cache_ttl.is_zero() {
                self.send(now, node, Deferred::CachePush { to: source, key });
            }
            return;
        }
        let pointer = self
            .sync
            .pointers
            .iter()
            .find(|p| p.key == key && p.version >= min_version)
            .map(|p| p.holder);
        if let Some(holder) = pointer.filter(|_| !on_the_way) {
            // Our replica lives at `holder`: it answers.
            let fwd = Deferred::Get {
                to: Some(holder),
                op,
                key,
                min_version,
                tried,
                client,
            };
            self.send(now, node, fwd);
            return;
        }
        let own = node.own().id;
        if on_the_way {
            // Handed over on the way (the Lookups forwarder) and not here:
            // send it on towards the root.
            let fwd = Deferred::Get {
                to: None,
                op,
                key,
                min_version,
                tried,
                client,
            };
            self.send(now, node, fwd);
            return;
        }
        // A replica that just joined may not have been given the value
        // yet: ask the others before saying it does not exist.
        let next = node
            .replica_set(key, self.config.replicas)
            .into_iter()
            .filter(|p| p.id != own && p.id != source.id && p.id != client.id)
            .nth(usize::from(tried));
        let tried = tried.saturating_add(1);
        match next {
            Some(to) if usize::from(tried) < self.config.replicas => {
                let fwd = Deferred::Get {
                    to: Some(to),
                    op,
                    key,
                    min_version,
                    tried,
                    client,
                };
                self.send(now, node, fwd);
            }
            _ => {
                self.not_found(now, node, client, (op, key));
            }
        }
    }

    /// Tells `client` that `key` is not here (nor, as far as this node
    /// knows, anywhere).
    pub(super) fn not_found(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        client: Peer,
        (op, key): (u64, Id),
    ) {
        self.send(
            now,
            node,
            Deferred::NotFound {
                to: client,
                op,
                key,
            },
        );
    }

    pub(super) fn on_value<'b>(
        &mut self,
        op: u64,
        key: Id,
        meta: Meta,
        cached: bool,
        value: &'b [u8],
    ) -> Option<DhtEvent<'b>> {
        let i = self.find_op(op, key, |k| matches!(k, OpKind::Get { .. }))?;
        let OpKind::Get {
            min_version,
            content,
            signed,
            ..
        } = self.ops[i].kind
        else {
            return None;
        };
        if (meta.content || content) && Id::sha1(value) != key {
            // Refused; the retry (or the timeout) settles the operation.
            self.stats.forged += 1;
            return None;
        }
        // A signed value's envelope must check out; the owner's bytes are
        // its tail.
        let value = match meta.signed || signed {
            true => match signed::open(key, meta.version, value) {
                Some(opened) => opened.value,
                None => {
                    self.stats.forged += 1;
                    return None;
                }
            },
            false => value,
        };
        if meta.version < min_version {
            return None;
        }
        self.ops.swap_remove(i);
        Some(DhtEvent::Found {
            op: OpId(op),
            key,
            version: meta.version,
            cached,
            value,
        })
    }
}
