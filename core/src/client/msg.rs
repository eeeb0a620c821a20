//! The client protocol's datagrams: a request from a client to any member,
//! and the member's reply.
//!
//! ```text
//! header   magic "PC" (2) | version (1) | kind (1) | request id (8)
//! requests 0x01 put          key (20) | version (8) | ttl in s (4) | value (rest)
//!          0x02 put content  ttl in s (4) | value (rest)
//!          0x03 get          key (20) | content-hash flag (1)
//!          0x04 route        key (20) | app (2) | payload (rest)
//!          0x05 publish      group (20) | data (rest)
//!          0x06 anycast      group (20) | data (rest)
//!          0x07 subscribe    group (20)
//!          0x08 unsubscribe  group (20)
//!          0x09 delete       key (20) | version (8)
//! replies  0x81 stored       key (20) | replicas (1)
//!          0x82 found        version (8) | cached flag (1) | value (rest)
//!          0x83 not found
//!          0x84 sent         id (8)          (a route's or publication's)
//!          0x85 accepted     member (id 20 | address)
//!          0x86 subscribed   lease in ms (4)
//!          0x87 multicast    group (20) | publication id (8) | data (rest)
//!          0x88 unsubscribed
//!          0xff refused      reason (1) | detail (8)
//! ```
//!
//! The magic differs from the overlay's ("PA"), so a member tells the two
//! apart from the first bytes. Decoding is total, as for the overlay.

use crate::id::Id;
use crate::peer::Peer;
use crate::wire::cursor::{Reader, Writer, peer_len};
use crate::wire::{AppId, DecodeError, EncodeError};

/// The two bytes every client datagram starts with.
pub const MAGIC: [u8; 2] = *b"PC";
/// The client protocol version this build speaks (2: puts carry a time
/// to live; deletion).
pub const VERSION: u8 = 2;
/// Bytes before a request's or reply's body.
pub const HEADER_LEN: usize = 2 + 1 + 1 + 8;

/// A time to live as a request carries it: whole seconds, rounded up, at
/// least one (0 on the wire means no expiry), at most `u32::MAX`.
pub fn ttl_secs(ttl: core::time::Duration) -> u32 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
}

/// Whether `bytes` claim to be a client datagram (not an overlay one).
pub fn is_client_datagram(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// What a client asks a member to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// Store `value` under `key` at `version`.
    Put {
        /// The key.
        key: Id,
        /// The version.
        version: u64,
        /// Seconds the replicas keep it (0: until replaced).
        ttl_secs: u32,
        /// The value.
        value: &'a [u8],
    },
    /// Store `value` under its SHA-1.
    PutContent {
        /// Seconds the replicas keep it (0: until replaced).
        ttl_secs: u32,
        /// The value.
        value: &'a [u8],
    },
    /// Delete `key` at `version` (a tombstone, [`crate::dht::Dht::delete`]).
    Delete {
        /// The key.
        key: Id,
        /// The deletion's version, above the stored one.
        version: u64,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: Id,
        /// Whether `key` is a content hash the value must match.
        content: bool,
    },
    /// Route `payload` for `app` to `key`'s root.
    Route {
        /// The key.
        key: Id,
        /// The application.
        app: AppId,
        /// Its bytes.
        payload: &'a [u8],
    },
    /// Publish to a group.
    Publish {
        /// The group.
        group: Id,
        /// Its bytes.
        data: &'a [u8],
    },
    /// Offer to one member of a group.
    Anycast {
        /// The group.
        group: Id,
        /// Its bytes.
        data: &'a [u8],
    },
    /// Relay a group's publications to the client for a lease (renewed by
    /// sending the request again).
    Subscribe {
        /// The group.
        group: Id,
    },
    /// Stop relaying a group.
    Unsubscribe {
        /// The group.
        group: Id,
    },
}

/// Why a member refused or failed a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The member is not active in the overlay.
    NotActive,
    /// The member has too much in flight (for clients, or in its queues).
    Busy,
    /// The value or payload is over the member's limit (the detail).
    TooLarge,
    /// A replica holds a newer version (the detail).
    Stale,
    /// The value's key is not its hash.
    Forged,
    /// The operation did not complete in time.
    TimedOut,
    /// No member of the group accepted the anycast.
    NoneAccepted,
    /// The member relays no more groups, or is not relaying this one.
    NoRoom,
    /// The request did not decode.
    Malformed,
    /// The key holds a content-hash or signed value, which this one
    /// cannot replace.
    Protected,
    /// The key's root refused: over the per-client quota.
    OverQuota,
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Refusal::NotActive => "the member is not in the overlay",
            Refusal::Busy => "the member is busy",
            Refusal::TooLarge => "too large",
            Refusal::Stale => "a newer version is stored",
            Refusal::Forged => "the value does not hash to its key",
            Refusal::TimedOut => "no answer in time",
            Refusal::NoneAccepted => "no member of the group accepted",
            Refusal::NoRoom => "the member relays no more groups",
            Refusal::Malformed => "the request did not decode",
            Refusal::Protected => "the key holds a content-hash or signed value",
            Refusal::OverQuota => "over this client's quota",
        })
    }
}

impl Refusal {
    const ALL: [Refusal; 11] = [
        Refusal::NotActive,
        Refusal::Busy,
        Refusal::TooLarge,
        Refusal::Stale,
        Refusal::Forged,
        Refusal::TimedOut,
        Refusal::NoneAccepted,
        Refusal::NoRoom,
        Refusal::Malformed,
        Refusal::Protected,
        Refusal::OverQuota,
    ];

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(c: u8) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.code() == c)
    }
}

/// A member's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// A put reached its quorum.
    Stored {
        /// The key (a content put's hash).
        key: Id,
        /// Replicas that stored it.
        replicas: u8,
    },
    /// A get found the value.
    Found {
        /// Its version.
        version: u64,
        /// Whether a cache answered rather than a replica.
        cached: bool,
        /// The value.
        value: &'a [u8],
    },
    /// No replica holds the key.
    NotFound,
    /// A route or publication left the member with this id.
    Sent {
        /// The id.
        id: u64,
    },
    /// A member of the group accepted the anycast.
    Accepted {
        /// That member.
        by: Peer,
    },
    /// The member relays the group's publications for this long.
    Subscribed {
        /// The lease in milliseconds.
        lease_ms: u32,
    },
    /// A publication relayed under a subscription.
    Multicast {
        /// The group.
        group: Id,
        /// The publication's id.
        id: u64,
        /// Its bytes.
        data: &'a [u8],
    },
    /// Relaying stopped.
    Unsubscribed,
    /// The request failed.
    Refused {
        /// Why.
        reason: Refusal,
        /// A number that goes with it (a limit, a current version), or 0.
        detail: u64,
    },
}

/// One client datagram: a request or a reply, with its request id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Client to member.
    Request(u64, Request<'a>),
    /// Member to client.
    Reply(u64, Reply<'a>),
}

impl<'a> Frame<'a> {
    /// Parses one datagram; anything else is an error, never a panic.
    pub fn decode(bytes: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let mut r = Reader::new(bytes);
        if r.take(2)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let kind = r.u8()?;
        let req = r.u64()?;
        let rest = |r: &mut Reader<'a>| r.take(r.peek_rest().len());
        let flag = |r: &mut Reader<'a>| match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::ReservedFlags),
        };
        let frame = match kind {
            0x01 => Frame::Request(req, {
                let (key, version, ttl_secs) = (r.id()?, r.u64()?, r.u32()?);
                Request::Put {
                    key,
                    version,
                    ttl_secs,
                    value: rest(&mut r)?,
                }
            }),
            0x02 => Frame::Request(req, {
                let ttl_secs = r.u32()?;
                Request::PutContent {
                    ttl_secs,
                    value: rest(&mut r)?,
                }
            }),
            0x03 => Frame::Request(req, {
                let key = r.id()?;
                Request::Get {
                    key,
                    content: flag(&mut r)?,
                }
            }),
            0x04 => Frame::Request(req, {
                let (key, app) = (r.id()?, AppId(r.u16()?));
                Request::Route {
                    key,
                    app,
                    payload: rest(&mut r)?,
                }
            }),
            0x05 => Frame::Request(req, {
                let group = r.id()?;
                Request::Publish {
                    group,
                    data: rest(&mut r)?,
                }
            }),
            0x06 => Frame::Request(req, {
                let group = r.id()?;
                Request::Anycast {
                    group,
                    data: rest(&mut r)?,
                }
            }),
            0x07 => Frame::Request(req, Request::Subscribe { group: r.id()? }),
            0x08 => Frame::Request(req, Request::Unsubscribe { group: r.id()? }),
            0x09 => Frame::Request(req, {
                let key = r.id()?;
                Request::Delete {
                    key,
                    version: r.u64()?,
                }
            }),
            0x81 => Frame::Reply(req, {
                let key = r.id()?;
                Reply::Stored {
                    key,
                    replicas: r.u8()?,
                }
            }),
            0x82 => Frame::Reply(req, {
                let (version, cached) = (r.u64()?, flag(&mut r)?);
                Reply::Found {
                    version,
                    cached,
                    value: rest(&mut r)?,
                }
            }),
            0x83 => Frame::Reply(req, Reply::NotFound),
            0x84 => Frame::Reply(req, Reply::Sent { id: r.u64()? }),
            0x85 => Frame::Reply(req, Reply::Accepted { by: r.peer()? }),
            0x86 => Frame::Reply(req, Reply::Subscribed { lease_ms: r.u32()? }),
            0x87 => Frame::Reply(req, {
                let (group, id) = (r.id()?, r.u64()?);
                Reply::Multicast {
                    group,
                    id,
                    data: rest(&mut r)?,
                }
            }),
            0x88 => Frame::Reply(req, Reply::Unsubscribed),
            0xff => Frame::Reply(req, {
                let code = r.u8()?;
                let reason = Refusal::from_code(code).ok_or(DecodeError::UnknownKind(code))?;
                Reply::Refused {
                    reason,
                    detail: r.u64()?,
                }
            }),
            k => return Err(DecodeError::UnknownKind(k)),
        };
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(frame)
    }

    fn kind(&self) -> u8 {
        match self {
            Frame::Request(_, q) => match q {
                Request::Put { .. } => 0x01,
                Request::PutContent { .. } => 0x02,
                Request::Get { .. } => 0x03,
                Request::Route { .. } => 0x04,
                Request::Publish { .. } => 0x05,
                Request::Anycast { .. } => 0x06,
                Request::Subscribe { .. } => 0x07,
                Request::Unsubscribe { .. } => 0x08,
                Request::Delete { .. } => 0x09,
            },
            Frame::Reply(_, p) => match p {
                Reply::Stored { .. } => 0x81,
                Reply::Found { .. } => 0x82,
                Reply::NotFound => 0x83,
                Reply::Sent { .. } => 0x84,
                Reply::Accepted { .. } => 0x85,
                Reply::Subscribed { .. } => 0x86,
                Reply::Multicast { .. } => 0x87,
                Reply::Unsubscribed => 0x88,
                Reply::Refused { .. } => 0xff,
            },
        }
    }

    /// Exact encoded length.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Frame::Request(_, q) => match q {
                    Request::Put { value, .. } => 32 + value.len(),
                    Request::PutContent { value, .. } => 4 + value.len(),
                    Request::Delete { .. } => 28,
                    Request::Get { .. } => 21,
                    Request::Route { payload, .. } => 22 + payload.len(),
                    Request::Publish { data, .. } | Request::Anycast { data, .. } => {
                        20 + data.len()
                    }
                    Request::Subscribe { .. } | Request::Unsubscribe { .. } => 20,
                },
                Frame::Reply(_, p) => match p {
                    Reply::Stored { .. } => 21,
                    Reply::Found { value, .. } => 9 + value.len(),
                    Reply::NotFound | Reply::Unsubscribed => 0,
                    Reply::Sent { .. } => 8,
                    Reply::Accepted { by } => peer_len(by),
                    Reply::Subscribed { .. } => 4,
                    Reply::Multicast { data, .. } => 28 + data.len(),
                    Reply::Refused { .. } => 9,
                },
            }
    }

    /// Encodes into the front of `buf`; the bytes written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = self.encoded_len();
        if buf.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        let mut w = Writer::new(buf);
        w.bytes(&MAGIC);
        w.u8(VERSION);
        w.u8(self.kind());
        match *self {
            Frame::Request(req, q) => {
                w.u64(req);
                match q {
                    Request::Put {
                        key,
                        version,
                        ttl_secs,
                        value,
                    } => {
                        w.id(key);
                        w.u64(version);
                        w.u32(ttl_secs);
                        w.bytes(value);
                    }
                    Request::PutContent { ttl_secs, value } => {
                        w.u32(ttl_secs);
                        w.bytes(value);
                    }
                    Request::Delete { key, version } => {
                        w.id(key);
                        w.u64(version);
                    }
                    Request::Get { key, content } => {
                        w.id(key);
                        w.u8(u8::from(content));
                    }
                    Request::Route { key, app, payload } => {
                        w.id(key);
                        w.u16(app.0);
                        w.bytes(payload);
                    }
                    Request::Publish { group, data } | Request::Anycast { group, data } => {
                        w.id(group);
                        w.bytes(data);
                    }
                    Request::Subscribe { group } | Request::Unsubscribe { group } => w.id(group),
                }
            }
            Frame::Reply(req, p) => {
                w.u64(req);
                match p {
                    Reply::Stored { key, replicas } => {
                        w.id(key);
                        w.u8(replicas);
                    }
                    Reply::Found {
                        version,
                        cached,
                        value,
                    } => {
                        w.u64(version);
                        w.u8(u8::from(cached));
                        w.bytes(value);
                    }
                    Reply::NotFound | Reply::Unsubscribed => {}
                    Reply::Sent { id } => w.u64(id),
                    Reply::Accepted { by } => w.peer(&by),
                    Reply::Subscribed { lease_ms } => w.u32(lease_ms),
                    Reply::Multicast { group, id, data } => {
                        w.id(group);
                        w.u64(id);
                        w.bytes(data);
                    }
                    Reply::Refused { reason, detail } => {
                        w.u8(reason.code());
                        w.u64(detail);
                    }
                }
            }
        }
        let written = w.finish();
        debug_assert_eq!(written, Some(needed), "encoded_len disagrees with encode");
        written.ok_or(EncodeError::BufferTooSmall { needed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::SocketAddr;

    fn frames<'a>(v: &'a [u8]) -> [Frame<'a>; 18] {
        let (key, group) = (Id::sha1(b"k"), Id::sha1(b"g"));
        let by = Peer::new(Id::sha1(b"m"), SocketAddr::from(([10, 0, 0, 1], 7)));
        [
            Frame::Request(
                1,
                Request::Put {
                    key,
                    version: 3,
                    ttl_secs: 60,
                    value: v,
                },
            ),
            Frame::Request(
                2,
                Request::PutContent {
                    ttl_secs: 0,
                    value: v,
                },
            ),
            Frame::Request(18, Request::Delete { key, version: 4 }),
            Frame::Request(3, Request::Get { key, content: true }),
            Frame::Request(
                4,
                Request::Route {
                    key,
                    app: AppId(9),
                    payload: v,
                },
            ),
            Frame::Request(5, Request::Publish { group, data: v }),
            Frame::Request(6, Request::Anycast { group, data: v }),
            Frame::Request(7, Request::Subscribe { group }),
            Frame::Request(8, Request::Unsubscribe { group }),
            Frame::Reply(9, Reply::Stored { key, replicas: 5 }),
            Frame::Reply(
                10,
                Reply::Found {
                    version: 2,
                    cached: true,
                    value: v,
                },
            ),
            Frame::Reply(11, Reply::NotFound),
            Frame::Reply(12, Reply::Sent { id: 77 }),
            Frame::Reply(13, Reply::Accepted { by }),
            Frame::Reply(14, Reply::Subscribed { lease_ms: 30_000 }),
            Frame::Reply(
                15,
                Reply::Multicast {
                    group,
                    id: 4,
                    data: v,
                },
            ),
            Frame::Reply(16, Reply::Unsubscribed),
            Frame::Reply(
                17,
                Reply::Refused {
                    reason: Refusal::Stale,
                    detail: 9,
                },
            ),
        ]
    }

    #[test]
    fn every_frame_round_trips_and_every_truncation_is_refused() {
        let mut buf = [0u8; 256];
        for v in [&b""[..], &b"some bytes"[..]] {
            for f in frames(v) {
                let n = f.encode(&mut buf).unwrap();
                assert_eq!(n, f.encoded_len());
                assert_eq!(Frame::decode(&buf[..n]), Ok(f));
                assert!(is_client_datagram(&buf[..n]));
                // Every prefix short of the fixed fields is refused (a
                // shorter trailing value is just a shorter value).
                let trailing = match f {
                    Frame::Request(_, Request::Subscribe { .. } | Request::Unsubscribe { .. })
                    | Frame::Request(_, Request::Get { .. } | Request::Delete { .. })
                    | Frame::Reply(
                        _,
                        Reply::Stored { .. } | Reply::NotFound | Reply::Sent { .. },
                    )
                    | Frame::Reply(_, Reply::Accepted { .. } | Reply::Subscribed { .. })
                    | Frame::Reply(_, Reply::Unsubscribed | Reply::Refused { .. }) => 0,
                    _ => v.len(),
                };
                for cut in 0..n - trailing {
                    assert!(Frame::decode(&buf[..cut]).is_err(), "{f:?} cut at {cut}");
                }
            }
        }
    }

    #[test]
    fn bad_flags_codes_and_magic_are_refused() {
        let mut buf = [0u8; 64];
        let f = Frame::Request(
            1,
            Request::Get {
                key: Id::ZERO,
                content: false,
            },
        );
        let n = f.encode(&mut buf).unwrap();
        buf[n - 1] = 2;
        assert_eq!(Frame::decode(&buf[..n]), Err(DecodeError::ReservedFlags));
        let f = Frame::Reply(
            1,
            Reply::Refused {
                reason: Refusal::Busy,
                detail: 0,
            },
        );
        let n = f.encode(&mut buf).unwrap();
        buf[HEADER_LEN] = 0;
        assert!(Frame::decode(&buf[..n]).is_err());
        buf[0] = b'P';
        buf[1] = b'A';
        assert_eq!(Frame::decode(&buf[..n]), Err(DecodeError::BadMagic));
        assert!(Frame::decode(&[]).is_err());
        assert_eq!(
            Frame::Reply(1, Reply::NotFound).encode(&mut [0u8; 4]),
            Err(EncodeError::BufferTooSmall { needed: HEADER_LEN })
        );
    }
}
