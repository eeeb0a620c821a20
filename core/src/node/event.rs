//! What the node tells its caller: events (the KBR upcalls and command
//! outcomes), datagrams to send, and command errors.

use core::fmt;
use core::net::SocketAddr;

use crate::id::Id;
use crate::peer::Peer;
use crate::wire::AppId;

/// A datagram to send: `len` bytes at the front of the buffer lent to
/// [`super::Node::poll_transmit`], for `destination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: SocketAddr,
    /// How many bytes of the buffer to send.
    pub len: usize,
}

/// A routed message that reached its root (the KBR `deliver` upcall).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// The key it was routed to.
    pub key: Id,
    /// Its application.
    pub app: AppId,
    /// The node that sent it.
    pub source: Peer,
    /// The source's id for it.
    pub msg_id: u64,
    /// Overlay hops it took.
    pub hops: u8,
    /// Whether `source` is authenticated: this node sent it, or it came
    /// straight from its source over a verified session
    /// ([`crate::Config::verify_peers`]). Otherwise `source` is what the
    /// last relay said, and an application that acts on who sent it (a
    /// replica copy, a quorum's ack) should not believe it.
    pub authenticated: bool,
    /// The source's public key and signature, if it signed the message
    /// (a node that verifies its peers signs an end-node application's
    /// message it sends through a relay); [`Delivery::verify_source`]
    /// checks it.
    pub signature: Option<[u8; crate::wire::SOURCE_SIGNATURE_BYTES]>,
    /// The application's bytes.
    pub payload: &'a [u8],
}

impl Delivery<'_> {
    /// Whether `source` is proven: [`Delivery::authenticated`], or the
    /// source's signature over the message checks (its id is the hash of
    /// the signing key). Costs an Ed25519 verification (tens of
    /// microseconds on a server) when the message came through relays;
    /// call it only where who sent a message matters.
    pub fn verify_source(&self) -> bool {
        self.authenticated
            || self.signature.is_some_and(|s| {
                super::origin::Signable {
                    app: self.app,
                    key: self.key,
                    msg_id: self.msg_id,
                    source: self.source,
                    payload: self.payload,
                }
                .verify(&s)
            })
    }
}

/// Something the application should know, polled with
/// [`super::Node::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The node's leaf set is confirmed: it is active and may be the root
    /// of keys.
    Joined,
    /// The join got no answer after every retry.
    JoinFailed,
    /// A message for which this node is the root.
    Deliver(Delivery<'a>),
    /// KBR `update(node, joined)`: a node entered or left the leaf set.
    Update {
        /// The node.
        peer: Peer,
        /// Whether it entered (else it left or failed).
        joined: bool,
    },
    /// A message this node sent could not be routed: every next hop tried
    /// failed, or no replica accepts its application; reported here or by
    /// the node on the path where it failed. Advisory: after a lost ack a
    /// copy may have taken another path and been delivered.
    RouteFailed {
        /// The id `route` returned.
        msg_id: u64,
        /// Its key.
        key: Id,
        /// Its application.
        app: AppId,
    },
    /// A secure lookup (or `secure_route`'s) ended: the key's replica
    /// roots as found despite faulty nodes.
    Secured(super::Secured<'a>),
}

/// Internal form of an event, holding a slot reference for deliveries.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ev {
    Joined,
    JoinFailed,
    Deliver(super::pool::SlotRef),
    Update {
        peer: Peer,
        joined: bool,
    },
    RouteFailed {
        msg_id: u64,
        key: Id,
        app: AppId,
    },
    /// Names a secure lookup that ended (kept with the lookup until
    /// polled).
    #[cfg_attr(not(feature = "secure-routing"), allow(dead_code))]
    Secured(u64),
}

/// Why a command was refused. Nothing changed in the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// `join` on a node that already joined or is joining.
    AlreadyJoined,
    /// The node is not active (not joined yet, or left).
    NotActive,
    /// The payload is over the limit of `max` bytes.
    PayloadTooLarge {
        /// The largest payload this node can route.
        max: usize,
    },
    /// Every message slot is in use; retry after some complete.
    PoolFull,
    /// The outbound queue is full; poll transmits, then retry.
    QueueFull,
    /// The application policy table is full.
    PolicyFull,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::AlreadyJoined => f.write_str("the node has already joined or is joining"),
            CommandError::NotActive => f.write_str("the node is not active"),
            CommandError::PayloadTooLarge { max } => write!(f, "payload over {max} bytes"),
            CommandError::PoolFull => f.write_str("every message slot is in use"),
            CommandError::QueueFull => f.write_str("the outbound queue is full"),
            CommandError::PolicyFull => f.write_str("the application policy table is full"),
        }
    }
}

impl core::error::Error for CommandError {}
