//! What a peerlet's routed message carries before the application's
//! bytes: PROST's code locator (the manifest's content key, so a node that
//! meets an application it does not run knows what to fetch), the key it
//! is for (a message handed to the next replica is addressed to that
//! node, not the key), the node that sent it first (for replies), and how
//! many members of the replica set refused it so far.
//!
//! ```text
//! magic "PL" (2) | kind (1) | tried (1) | locator (20) | key (20)
//! origin id (20) | origin address: 4 or 6 (1), 4 or 16 bytes, port (2)
//! payload (rest)
//! ```

use core::net::{IpAddr, SocketAddr};

use pastry_core::{Id, Peer};

const MAGIC: &[u8; 2] = b"PL";

/// What an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// For the peerlet: delivered at the key's root (or the replica-set
    /// member that admits it), forwarded on the way if per-hop.
    Message,
    /// A peerlet's reply, for the origin's user.
    Reply,
    /// Every member of the key's replica set refused the peerlet: for the
    /// origin's user.
    Refused,
}

/// A decoded envelope, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// What it carries.
    pub kind: Kind,
    /// Replica-set members that refused it so far.
    pub tried: u8,
    /// The manifest's content key.
    pub locator: Id,
    /// The key it is routed for.
    pub key: Id,
    /// The node that sent it first.
    pub origin: Peer,
    /// The application's bytes.
    pub payload: &'a [u8],
}

/// Bytes an envelope adds to a payload, at most (an IPv6 origin).
pub const MAX_OVERHEAD: usize = 2 + 1 + 1 + 20 + 20 + 20 + 1 + 16 + 2;

impl<'a> Envelope<'a> {
    /// A new message for the peerlet under `locator`, at `key`'s root,
    /// sent first by `origin`.
    pub fn message(locator: Id, key: Id, origin: Peer, payload: &'a [u8]) -> Envelope<'a> {
        Envelope {
            kind: Kind::Message,
            tried: 0,
            locator,
            key,
            origin,
            payload,
        }
    }

    /// Parses `bytes`; `None` if they are not an envelope.
    pub fn decode(bytes: &'a [u8]) -> Option<Envelope<'a>> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let (&[kind, tried], rest) = rest.split_first_chunk::<2>()?;
        let kind = match kind {
            1 => Kind::Message,
            2 => Kind::Reply,
            3 => Kind::Refused,
            _ => return None,
        };
        let (locator, rest) = rest.split_first_chunk::<20>()?;
        let (key, rest) = rest.split_first_chunk::<20>()?;
        let (id, rest) = rest.split_first_chunk::<20>()?;
        let (&family, rest) = rest.split_first()?;
        let (ip, rest): (IpAddr, _) = match family {
            4 => {
                let (a, rest) = rest.split_first_chunk::<4>()?;
                ((*a).into(), rest)
            }
            6 => {
                let (a, rest) = rest.split_first_chunk::<16>()?;
                ((*a).into(), rest)
            }
            _ => return None,
        };
        let (port, payload) = rest.split_first_chunk::<2>()?;
        Some(Envelope {
            kind,
            tried,
            locator: Id::from_bytes(*locator),
            key: Id::from_bytes(*key),
            origin: Peer::new(
                Id::from_bytes(*id),
                SocketAddr::new(ip, u16::from_be_bytes(*port)),
            ),
            payload,
        })
    }

    /// The envelope's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(MAX_OVERHEAD + self.payload.len());
        v.extend_from_slice(MAGIC);
        v.push(match self.kind {
            Kind::Message => 1,
            Kind::Reply => 2,
            Kind::Refused => 3,
        });
        v.push(self.tried);
        v.extend_from_slice(&self.locator.to_bytes());
        v.extend_from_slice(&self.key.to_bytes());
        v.extend_from_slice(&self.origin.id.to_bytes());
        match self.origin.addr.ip() {
            IpAddr::V4(a) => {
                v.push(4);
                v.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                v.push(6);
                v.extend_from_slice(&a.octets());
            }
        }
        v.extend_from_slice(&self.origin.addr.port().to_be_bytes());
        v.extend_from_slice(self.payload);
        v
    }

    /// The same envelope with another payload.
    pub fn with_payload<'b>(&self, payload: &'b [u8]) -> Envelope<'b> {
        Envelope {
            kind: self.kind,
            tried: self.tried,
            locator: self.locator,
            key: self.key,
            origin: self.origin,
            payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_truncations_are_refused() {
        for addr in ["10.0.0.1:4000", "[2001:db8::7]:9"] {
            let e = Envelope {
                kind: Kind::Reply,
                tried: 2,
                locator: Id::sha1(b"l"),
                key: Id::sha1(b"k"),
                origin: Peer::new(Id::sha1(b"o"), addr.parse().unwrap()),
                payload: b"bytes",
            };
            let b = e.encode();
            assert!(b.len() <= MAX_OVERHEAD + 5);
            assert_eq!(Envelope::decode(&b), Some(e));
            for cut in 0..b.len() - e.payload.len() {
                assert_eq!(Envelope::decode(&b[..cut]), None, "cut at {cut}");
            }
            let mut bad = b.clone();
            bad[2] = 9;
            assert_eq!(Envelope::decode(&bad), None, "unknown kind");
        }
    }
}
