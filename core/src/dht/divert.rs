//! Replica diversion (PAST §3.3): a full replica has a neighbour outside
//! the replica set keep the value and keeps a pointer to it.

use heapless::Vec;

use super::msg::Msg;
use super::send::encode_and_route;
use super::{APP, Dht, Meta, Store, sync};
use crate::id::Id;
use crate::leaf_set::NODE_SET_CAPACITY;
use crate::node::Kbr;
use crate::peer::Peer;
use crate::time::Instant;

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// PAST §3.3 replica diversion: no room here, so the value goes to the
    /// leaf-set member nearest the key outside the replica set, which
    /// keeps it for us (and acknowledges the client); we keep a pointer.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn divert(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        meta: Meta,
        value: &[u8],
        op: u64,
        client: Option<Peer>,
    ) -> bool {
        let pointed = self.sync.pointers.iter().any(|p| p.key == key);
        if self.sync.pointers.is_full() && !pointed {
            return false;
        }
        let rs = node.replica_set(key, self.config.replicas);
        let own = node.own().id;
        // The i-th replica diverts to the i-th nearest node outside the
        // replica set, so two full replicas do not pick the same one.
        let rank = rs.iter().position(|p| p.id == own).unwrap_or(0);
        let mut outside: Vec<Peer, { NODE_SET_CAPACITY }> = node
            .neighbor_set(NODE_SET_CAPACITY)
            .into_iter()
            .filter(|p| !rs.iter().any(|r| r.id == p.id))
            .collect();
        outside.sort_unstable_by(|a, b| key.cmp_closeness(a.id, b.id));
        let Some(&holder) = outside.get(rank % outside.len().max(1)) else {
            return false;
        };
        let msg = Msg::Store {
            op,
            key,
            meta: Meta {
                diverted: true,
                ..meta
            },
            cache: false,
            client,
            value,
        };
        // Not kept for later: the value is not stored here to read back.
        if encode_and_route(node, now, Some(holder), key, APP, &msg, &mut self.stats).is_err() {
            return false;
        }
        self.sync.pointers.retain(|p| p.key != key);
        let pointer = sync::Pointer {
            key,
            version: meta.version,
            holder,
        };
        // Room: checked above, or an entry for the key was just removed.
        let _ = self.sync.pointers.push(pointer);
        self.stats.diverted += 1;
        true
    }
}
