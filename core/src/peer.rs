//! A node as others see it: its id and the address it is reached at
//! (the KBR paper's "node handle").

use core::fmt;
use core::net::SocketAddr;

use crate::id::Id;

/// A node's id and transport address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Peer {
    /// The node's id.
    pub id: Id,
    /// Where its datagrams go.
    pub addr: SocketAddr,
}

impl Peer {
    /// A peer from its id and address.
    pub const fn new(id: Id, addr: SocketAddr) -> Peer {
        Peer { id, addr }
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits name a node well enough in logs.
        let bytes = self.id.to_bytes();
        write!(
            f,
            "Peer({:02x}{:02x}{:02x}{:02x}…@{})",
            bytes[0], bytes[1], bytes[2], bytes[3], self.addr
        )
    }
}
