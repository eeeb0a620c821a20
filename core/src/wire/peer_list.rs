//! Lists of peers on the wire: a count byte, then that many encoded peers.
//!
//! A decoded list borrows the datagram and was validated whole while
//! decoding, so iterating it cannot fail. An outgoing list borrows the
//! sender's own `&[Peer]`.

use core::fmt;

use super::cursor::{Reader, Writer, peer_len};
use super::{DecodeError, EncodeError};
use crate::peer::Peer;

/// Most peers one list can carry (its count is one byte).
pub const MAX_LIST_LEN: usize = u8::MAX as usize;

/// A list of peers inside a message.
#[derive(Clone, Copy)]
pub enum PeerList<'a> {
    /// Peers still in their wire form, already validated.
    Encoded {
        /// Number of peers.
        count: u8,
        /// Their encoded bytes.
        bytes: &'a [u8],
    },
    /// Peers to be sent.
    Peers(&'a [Peer]),
}

impl<'a> PeerList<'a> {
    /// The empty list.
    pub const EMPTY: PeerList<'static> = PeerList::Peers(&[]);

    /// Number of peers.
    pub fn len(&self) -> usize {
        match self {
            PeerList::Encoded { count, .. } => usize::from(*count),
            PeerList::Peers(p) => p.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The peers, in wire order.
    pub fn iter(&self) -> PeerIter<'a> {
        match *self {
            PeerList::Encoded { count, bytes } => PeerIter(Inner::Encoded {
                left: count,
                reader: Reader::new(bytes),
            }),
            PeerList::Peers(p) => PeerIter(Inner::Peers(p.iter())),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<PeerList<'a>, DecodeError> {
        let count = r.u8()?;
        // Validate every entry now; remember the span they occupy.
        let mut probe = Reader::new(r.peek_rest());
        for _ in 0..count {
            probe.peer()?;
        }
        let used = r.peek_rest().len() - probe.peek_rest().len();
        Ok(PeerList::Encoded {
            count,
            bytes: r.take(used)?,
        })
    }

    /// The same count of peers over `bytes`, which must hold them
    /// encoded ([`encode_peers`]).
    pub(crate) fn with_bytes(self, bytes: &[u8]) -> PeerList<'_> {
        PeerList::Encoded {
            count: self.len() as u8,
            bytes,
        }
    }

    /// Bytes this list takes on the wire, count byte included.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            PeerList::Encoded { bytes, .. } => bytes.len(),
            PeerList::Peers(p) => p.iter().map(peer_len).sum(),
        }
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.len() > MAX_LIST_LEN {
            return Err(EncodeError::ListTooLong { len: self.len() });
        }
        Ok(())
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        // `check` ran first, so the count fits a byte.
        w.u8(self.len() as u8);
        match self {
            PeerList::Encoded { bytes, .. } => w.bytes(bytes),
            PeerList::Peers(p) => p.iter().for_each(|peer| w.peer(peer)),
        }
    }
}

impl PartialEq for PeerList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for PeerList<'_> {}

impl fmt::Debug for PeerList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over a [`PeerList`].
pub struct PeerIter<'a>(Inner<'a>);

enum Inner<'a> {
    Encoded { left: u8, reader: Reader<'a> },
    Peers(core::slice::Iter<'a, Peer>),
}

impl fmt::Debug for PeerIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerIter")
    }
}

impl Iterator for PeerIter<'_> {
    type Item = Peer;

    fn next(&mut self) -> Option<Peer> {
        match &mut self.0 {
            Inner::Encoded { left, reader } => {
                *left = left.checked_sub(1)?;
                // Validated at decode time, so this read succeeds.
                reader.peer().ok()
            }
            Inner::Peers(it) => it.next().copied(),
        }
    }
}

/// Encodes `peers` (at most [`MAX_LIST_LEN`], and what fits) into `out`,
/// without a count, for [`PeerList::with_bytes`]; how many went in.
pub(crate) fn encode_peers<const N: usize>(
    peers: impl Iterator<Item = Peer>,
    out: &mut heapless::Vec<u8, N>,
) -> u8 {
    out.clear();
    let mut n = 0u8;
    for p in peers.take(MAX_LIST_LEN) {
        let mut one = [0u8; super::cursor::MAX_PEER_LEN];
        let len = peer_len(&p);
        let mut w = Writer::new(&mut one[..len]);
        w.peer(&p);
        if w.finish().is_none() || out.extend_from_slice(&one[..len]).is_err() {
            break;
        }
        n += 1;
    }
    n
}
