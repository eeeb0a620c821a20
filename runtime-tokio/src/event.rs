//! What a running node tells the application, as owned values that can
//! cross tasks: the core's events with their bytes copied out.

use bytes::Bytes;
use pastry_core::{AppId, Id, Peer};

/// Something the application should know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// The node's leaf set is confirmed: it is active and may be the root
    /// of keys.
    Joined,
    /// The join got no answer after every retry.
    JoinFailed,
    /// A routed message for one of the user's applications, delivered here
    /// because this node is the root of its key (KBR `deliver`).
    Deliver {
        /// The key it was routed to.
        key: Id,
        /// Its application.
        app: AppId,
        /// The node that sent it.
        source: Peer,
        /// The source's id for it.
        msg_id: u64,
        /// Overlay hops it took.
        hops: u8,
        /// The application's bytes.
        payload: Bytes,
    },
    /// A node entered or left the leaf set (KBR `update`).
    Neighbour {
        /// The node.
        peer: Peer,
        /// Whether it entered (else it left or failed).
        joined: bool,
    },
    /// A message this node routed could not be delivered (advisory: a copy
    /// may still have arrived).
    RouteFailed {
        /// The id `route` returned.
        msg_id: u64,
        /// Its key.
        key: Id,
        /// Its application.
        app: AppId,
    },
    /// This member is on the group's tree with a way to its root.
    Attached {
        /// The group.
        group: Id,
    },
    /// A publication to a group this node is a member of (once each).
    Multicast {
        /// The group.
        group: Id,
        /// The publication's id.
        id: u64,
        /// Its bytes.
        data: Bytes,
    },
}
