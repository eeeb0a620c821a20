//! The common KBR API (Dabek et al., IPTPS'03) as a trait: what an
//! application built on the overlay (the DHT, Scribe, a user's own) needs
//! from a node. [`super::Node`] implements it; an application written
//! against it runs on any node configuration, or on a test double.

use super::Node;
use super::app::{AppPolicy, Forwarder};
use super::event::CommandError;
use super::pool::MAX_PAYLOAD;
use crate::id::Id;
use crate::leaf_set::NodeSet;
use crate::peer::Peer;
use crate::routing::KeyRange;
use crate::routing_table::Rtt;
use crate::time::Instant;
use crate::wire::AppId;

/// The overlay calls an application makes.
pub trait Kbr {
    /// This node.
    fn own(&self) -> Peer;
    /// Whether the node is active (joined, may be a root).
    fn is_active(&self) -> bool;
    /// The largest payload `route` accepts.
    fn max_payload(&self) -> usize;
    /// KBR `route(key, msg, hint)`; the message's id.
    fn route(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        payload: &[u8],
        hint: Option<Peer>,
    ) -> Result<u64, CommandError>;
    /// How many more messages `route` would take now (an application
    /// keeps some for its users' traffic when it sends in bulk).
    fn route_room(&self) -> usize;
    /// KBR `local_lookup(key, n)`: up to `n` next hops for `key`, the
    /// first being where routing sends it (this node if it is the root).
    fn local_lookup(&self, key: Id, n: usize) -> NodeSet;
    /// KBR `replica_set(key, r)`, closest first.
    fn replica_set(&self, key: Id, r: usize) -> NodeSet;
    /// KBR `range(node, r)`.
    fn range(&self, node: Id, r: usize) -> Option<KeyRange>;
    /// KBR `neighbor_set(n)`: leaf-set members, nearest first.
    fn neighbor_set(&self, n: usize) -> NodeSet;
    /// Whether `key` lies within the leaf set's span, where
    /// `replica_set` is exact.
    fn covers(&self, key: Id) -> bool;
    /// Members the leaf set holds on each side when full (L/2); `range`
    /// can tell a neighbour's `r` closest only for `r` below it.
    fn leaf_set_half(&self) -> usize {
        crate::leaf_set::MAX_LEAF_HALF
    }
    /// The measured round-trip time to `id` if the node knows it (from its
    /// routing table), else [`Rtt::UNKNOWN`]; for preferring nearby peers.
    fn proximity(&self, id: Id) -> Rtt {
        let _ = id;
        Rtt::UNKNOWN
    }
    /// Reports that `id` went quiet: the node probes it if it knows it
    /// and routes around it until it answers ([`Node::suspect_peer`]).
    fn suspect(&mut self, id: Id) {
        let _ = id;
    }
    /// Whether `id` is a suspect being probed ([`Node::is_suspected`]).
    fn is_suspected(&self, id: Id) -> bool {
        let _ = id;
        false
    }
    /// Whether the node admits only verified peers
    /// ([`crate::Config::verify_peers`]): its leaf set holds none it has
    /// not verified, and a [`super::Delivery::authenticated`] source can
    /// be believed. An application applies its own checks only then.
    fn verifies_peers(&self) -> bool {
        false
    }
    /// Sets how this node treats `app`.
    fn set_policy(&mut self, app: AppId, policy: AppPolicy) -> Result<(), CommandError>;
    /// OSDI'02's `sec_route(key, msg, r)` ([`Node::secure_route`]):
    /// `payload` straight to each of the `replicas` roots of `key` that
    /// redundant routing finds; the message's id, which
    /// [`super::Event::Secured`] carries when the roots are known.
    #[cfg(feature = "secure-routing")]
    fn secure_route(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        payload: &[u8],
        replicas: usize,
    ) -> Result<u64, CommandError>;
    /// KBR `route` of a message encoded in place: `encode` writes it into a
    /// buffer of the largest payload and says how long it is (`None`: too
    /// large). The bytes routed, on success.
    fn route_encoded(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        hint: Option<Peer>,
        encode: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Result<usize, CommandError>
    where
        Self: Sized,
    {
        let mut buf = [0u8; MAX_PAYLOAD];
        let len = encode(&mut buf).ok_or(CommandError::PayloadTooLarge { max: MAX_PAYLOAD })?;
        self.route(now, key, app, &buf[..len], hint)?;
        Ok(len)
    }
    /// [`Kbr::secure_route`] of a message encoded in place, as
    /// [`Kbr::route_encoded`]: the message's id and its length.
    #[cfg(feature = "secure-routing")]
    fn secure_route_encoded(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        replicas: usize,
        encode: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Result<(u64, usize), CommandError>
    where
        Self: Sized,
    {
        let mut buf = [0u8; MAX_PAYLOAD];
        let len = encode(&mut buf).ok_or(CommandError::PayloadTooLarge { max: MAX_PAYLOAD })?;
        let id = self.secure_route(now, key, app, &buf[..len], replicas)?;
        Ok((id, len))
    }
    /// Sends `payload` for `app` straight to `peer` (routed to its id with
    /// it as the first hop, so it is acknowledged and, if `peer` has
    /// failed, delivered to the node now closest to its id).
    fn send_to(
        &mut self,
        now: Instant,
        peer: Peer,
        app: AppId,
        payload: &[u8],
    ) -> Result<u64, CommandError> {
        self.route(now, peer.id, app, payload, Some(peer))
    }
}

/// The KBR local calls (Dabek et al. §3) and an application's word that
/// a peer went quiet.
impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// An application's word that `id` went quiet (a Scribe parent missed
    /// its heartbeats): if the node knows `id` (leaf set or routing table)
    /// it probes it as a suspect, and routing goes around it until it
    /// answers; a failure is still declared only by the probe cycle. False
    /// if `id` is unknown here.
    pub fn suspect_peer(&mut self, id: Id) -> bool {
        match self.routing.member(id) {
            Some(peer) if id != self.own().id => {
                self.suspect(peer);
                true
            }
            _ => false,
        }
    }

    /// Whether `id` is a suspect being probed (routing avoids it).
    pub fn is_suspected(&self, id: Id) -> bool {
        self.probes.is_suspect(id)
    }

    /// KBR `local_lookup(key, n)`.
    pub fn local_lookup(&self, key: Id, n: usize) -> NodeSet {
        self.routing.local_lookup(key, n)
    }

    /// KBR `neighbor_set(n)`.
    pub fn neighbor_set(&self, n: usize) -> NodeSet {
        self.routing.neighbor_set(n)
    }

    /// KBR `replica_set(key, r)`.
    pub fn replica_set(&self, key: Id, r: usize) -> NodeSet {
        self.routing.replica_set(key, r)
    }

    /// KBR `range(node, r)`.
    pub fn range(&self, node: Id, r: usize) -> Option<KeyRange> {
        self.routing.range(node, r)
    }
}

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Kbr for Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    fn own(&self) -> Peer {
        Node::own(self)
    }
    fn is_active(&self) -> bool {
        Node::is_active(self)
    }
    fn max_payload(&self) -> usize {
        Node::max_payload(self)
    }
    fn route(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        payload: &[u8],
        hint: Option<Peer>,
    ) -> Result<u64, CommandError> {
        Node::route(self, now, key, app, payload, hint)
    }
    fn route_room(&self) -> usize {
        Node::route_room(self)
    }
    fn local_lookup(&self, key: Id, n: usize) -> NodeSet {
        Node::local_lookup(self, key, n)
    }
    fn replica_set(&self, key: Id, r: usize) -> NodeSet {
        Node::replica_set(self, key, r)
    }
    fn range(&self, node: Id, r: usize) -> Option<KeyRange> {
        Node::range(self, node, r)
    }
    fn neighbor_set(&self, n: usize) -> NodeSet {
        Node::neighbor_set(self, n)
    }
    fn covers(&self, key: Id) -> bool {
        self.leaf_set().covers(key)
    }
    fn proximity(&self, id: Id) -> Rtt {
        self.routing_table().get(id).map_or(Rtt::UNKNOWN, |e| e.rtt)
    }
    fn leaf_set_half(&self) -> usize {
        Node::leaf_set(self).half()
    }
    fn suspect(&mut self, id: Id) {
        Node::suspect_peer(self, id);
    }
    fn is_suspected(&self, id: Id) -> bool {
        Node::is_suspected(self, id)
    }
    fn verifies_peers(&self) -> bool {
        self.config().verify_peers
    }
    fn set_policy(&mut self, app: AppId, policy: AppPolicy) -> Result<(), CommandError> {
        self.policy_mut().set(app, policy)
    }
    #[cfg(feature = "secure-routing")]
    fn secure_route(
        &mut self,
        now: Instant,
        key: Id,
        app: AppId,
        payload: &[u8],
        replicas: usize,
    ) -> Result<u64, CommandError> {
        Node::secure_route(self, now, key, app, payload, replicas)
    }
}
