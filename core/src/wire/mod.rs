//! The wire format: one datagram carries one message.
//!
//! ```text
//! header  magic "PA" (2) | version (1) | kind (1) | app id (2) | sender id (20) | sender address
//! address family 4 (1) | IPv4 (4) | port (2)     or     family 6 (1) | IPv6 (16) | port (2)
//! body    depends on the kind (see [`Body`])
//! ```
//!
//! Integers are big-endian and ids are 20 raw bytes. Decoding borrows from the
//! datagram (zero-copy), checks every length against the bytes present and
//! accepts only the canonical encoding: reserved flag bits are zero and no
//! bytes trail the body, so a decoded message re-encodes to the same bytes.
//! Encoding writes into a buffer the caller lends; one that is too small is
//! refused with the size needed.
//!
//! Kinds `0x01..=0x3f` belong to the overlay (this module). Applications
//! built on the overlay (replication, multicast) take their own ranges
//! (`0x40..`) and add kinds without changing these.

pub(crate) mod cursor;
mod handover;
pub mod handshake;
mod message;
mod peer_list;

use core::fmt;

pub use handover::{HANDOVER_RECORD_BYTES, Handover, HandoverIter, HandoverRecord, MAX_HANDOVER};
pub use message::{
    Ack, Body, Heartbeat, JoinReply, JoinRequest, LeafSetExchange, LeafSetView, Leave, MAX_ATTEMPT,
    Probe, ProbeReply, Query, Receipt, ReplicaSet, RouteFailed, Routed, RowReply, RowRequest,
    SOURCE_SIGNATURE_BYTES,
};
pub(crate) use peer_list::encode_peers;
pub use peer_list::{MAX_LIST_LEN, PeerIter, PeerList};

use crate::id::ID_BYTES;
use crate::peer::Peer;
pub(crate) use cursor::peer_len;
use cursor::{MAX_PEER_LEN, Reader, Writer};

/// The two bytes every datagram starts with.
pub const MAGIC: [u8; 2] = *b"PA";
/// The format version this build speaks.
pub const VERSION: u8 = 3;
/// Header length with an IPv4 sender.
pub const HEADER_LEN_V4: usize = 2 + 1 + 1 + 2 + ID_BYTES + 7;
/// Header length with an IPv6 sender (the largest header).
pub const HEADER_LEN_V6: usize = 2 + 1 + 1 + 2 + ID_BYTES + 19;

/// Names the application a message belongs to (PROST): every routed message
/// carries one, and a node's policy allows or denies each.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AppId(pub u16);

impl AppId {
    /// The overlay itself (maintenance traffic).
    pub const OVERLAY: AppId = AppId(0);
}

/// The message kinds of the overlay, as numbered on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    /// [`JoinRequest`].
    JoinRequest = 0x01,
    /// [`JoinReply`].
    JoinReply = 0x02,
    /// [`LeafSetExchange`].
    LeafSet = 0x03,
    /// [`Heartbeat`].
    Heartbeat = 0x04,
    /// [`Probe`].
    Probe = 0x05,
    /// [`ProbeReply`].
    ProbeReply = 0x06,
    /// [`RowRequest`].
    RowRequest = 0x07,
    /// [`RowReply`].
    RowReply = 0x08,
    /// [`Routed`].
    Routed = 0x09,
    /// [`Ack`].
    Ack = 0x0a,
    /// [`Leave`].
    Leave = 0x0b,
    /// [`RouteFailed`].
    RouteFailed = 0x0c,
    /// [`handshake::Hello`].
    Hello = 0x0d,
    /// A [`handshake::Proof`] answering a Hello.
    Challenge = 0x0e,
    /// A [`handshake::Proof`] answering a Challenge.
    Confirm = 0x0f,
    /// The responder's first authenticated datagram: it holds the
    /// session, so the initiator may send.
    Ready = 0x10,
    /// "I hold no session with you": the sender's session is stale, and
    /// it should greet again. Unauthenticated and no longer than what
    /// prompted it.
    Stale = 0x11,
    /// [`Query`].
    Query = 0x12,
    /// [`ReplicaSet`].
    ReplicaSet = 0x13,
    /// [`Receipt`].
    Receipt = 0x14,
}

impl Kind {
    /// Every kind, in wire order.
    pub const ALL: [Kind; 20] = [
        Kind::JoinRequest,
        Kind::JoinReply,
        Kind::LeafSet,
        Kind::Heartbeat,
        Kind::Probe,
        Kind::ProbeReply,
        Kind::RowRequest,
        Kind::RowReply,
        Kind::Routed,
        Kind::Ack,
        Kind::Leave,
        Kind::RouteFailed,
        Kind::Hello,
        Kind::Challenge,
        Kind::Confirm,
        Kind::Ready,
        Kind::Stale,
        Kind::Query,
        Kind::ReplicaSet,
        Kind::Receipt,
    ];

    /// Whether datagrams of this kind are the handshake, which travels
    /// without a session's authentication tag.
    pub fn is_handshake(self) -> bool {
        matches!(
            self,
            Kind::Hello | Kind::Challenge | Kind::Confirm | Kind::Stale
        )
    }

    /// The kind's name in snake case (`"join_request"`), for counters
    /// and logs.
    pub fn name(self) -> &'static str {
        match self {
            Kind::JoinRequest => "join_request",
            Kind::JoinReply => "join_reply",
            Kind::LeafSet => "leaf_set",
            Kind::Heartbeat => "heartbeat",
            Kind::Probe => "probe",
            Kind::ProbeReply => "probe_reply",
            Kind::RowRequest => "row_request",
            Kind::RowReply => "row_reply",
            Kind::Routed => "routed",
            Kind::Ack => "ack",
            Kind::Leave => "leave",
            Kind::RouteFailed => "route_failed",
            Kind::Hello => "hello",
            Kind::Challenge => "challenge",
            Kind::Confirm => "confirm",
            Kind::Ready => "ready",
            Kind::Stale => "stale",
            Kind::Query => "query",
            Kind::ReplicaSet => "replica_set",
            Kind::Receipt => "receipt",
        }
    }

    /// The kind with wire number `n`, if there is one.
    pub fn from_u8(n: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == n)
    }
}

/// One decoded (or to-be-encoded) datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The application the message belongs to.
    pub app: AppId,
    /// The node that sent this datagram (this hop, not the route's source).
    pub sender: Peer,
    /// The kind-specific part.
    pub body: Body<'a>,
}

impl<'a> Message<'a> {
    /// Parses one datagram. Any byte string is acceptable input: what is not
    /// a valid, canonical message is an error, never a panic.
    pub fn decode(bytes: &'a [u8]) -> Result<Message<'a>, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.take(2)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let kind_byte = r.u8()?;
        let kind = Kind::from_u8(kind_byte).ok_or(DecodeError::UnknownKind(kind_byte))?;
        let app = AppId(r.u16()?);
        let sender = r.peer()?;
        let body = Body::decode(kind, &mut r)?;
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(Message { app, sender, body })
    }

    /// Exact encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        2 + 1 + 1 + 2 + peer_len(&self.sender) + self.body.encoded_len()
    }

    /// Encodes into the front of `buf`, returning the bytes written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        self.body.check()?;
        let needed = self.encoded_len();
        if buf.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        let mut w = Writer::new(buf);
        w.bytes(&MAGIC);
        w.u8(VERSION);
        w.u8(self.body.kind() as u8);
        w.u16(self.app.0);
        w.peer(&self.sender);
        self.body.encode(&mut w);
        let written = w.finish();
        debug_assert_eq!(written, Some(needed), "encoded_len disagrees with encode");
        written.ok_or(EncodeError::BufferTooSmall { needed })
    }
}

/// The longest message that carries a leaf set of `leaf_set_size` IPv6 peers
/// and nothing else (a probe reply): what `max_datagram` must hold.
pub const fn max_leaf_set_message_len(leaf_set_size: usize) -> usize {
    // Nonce, two list counts, the peers, and an empty handover's count.
    HEADER_LEN_V6 + 8 + 2 + leaf_set_size * MAX_PEER_LEN + 1
}

/// Why a datagram was not a valid message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram ended inside a field.
    Truncated,
    /// It does not start with [`MAGIC`]: not ours.
    BadMagic,
    /// A format version this build does not speak.
    UnsupportedVersion(u8),
    /// A kind number nobody assigned.
    UnknownKind(u8),
    /// An address family other than 4 or 6.
    BadAddressFamily(u8),
    /// A flag bit that must be zero was set.
    ReservedFlags,
    /// Bytes follow the end of the body.
    TrailingBytes,
    /// A public key or certificate key that is not a usable curve point.
    BadKey,
    /// Padding that must be zero is not.
    BadPadding,
    /// A list longer than its message may carry.
    TooLong,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("datagram truncated"),
            DecodeError::BadMagic => f.write_str("not a pastry datagram (bad magic)"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            DecodeError::UnknownKind(k) => write!(f, "unknown message kind {k:#04x}"),
            DecodeError::BadAddressFamily(a) => write!(f, "bad address family {a}"),
            DecodeError::ReservedFlags => f.write_str("reserved flag bits set"),
            DecodeError::TrailingBytes => f.write_str("bytes after the end of the message"),
            DecodeError::BadKey => f.write_str("not a usable public key"),
            DecodeError::BadPadding => f.write_str("padding that is not zero"),
            DecodeError::TooLong => f.write_str("a list longer than its message may carry"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncodeError {
    /// The buffer is shorter than the message; `needed` bytes would do.
    BufferTooSmall {
        /// The encoded length of the message.
        needed: usize,
    },
    /// A peer list longer than [`MAX_LIST_LEN`].
    ListTooLong {
        /// Its length.
        len: usize,
    },
    /// A routed payload longer than `u16::MAX` bytes.
    PayloadTooLong {
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: the message needs {needed} bytes")
            }
            EncodeError::ListTooLong { len } => {
                write!(
                    f,
                    "a peer list of {len} exceeds the limit of {MAX_LIST_LEN}"
                )
            }
            EncodeError::PayloadTooLong { len } => {
                write!(f, "a payload of {len} bytes exceeds the limit of 65535")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

#[cfg(feature = "std")]
impl From<DecodeError> for std::io::Error {
    fn from(e: DecodeError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

#[cfg(feature = "std")]
impl From<EncodeError> for std::io::Error {
    fn from(e: EncodeError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}
