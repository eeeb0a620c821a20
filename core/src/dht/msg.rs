//! The DHT's messages: the payload of overlay-routed messages of
//! [`super::APP`] (and [`super::LOOKUP_APP`] for gets). One kind byte, then
//! the kind's fields, big-endian; a value is the rest of the payload.
//! Decoding is total and borrows from the input, like the overlay codec.

use crate::id::{ID_BYTES, Id};
use crate::peer::Peer;
use crate::routing::KeyRange;
use crate::wire::DecodeError;
use crate::wire::cursor::{Reader, Writer};

use super::store::Meta;
use crate::time::Instant;
use core::time::Duration;

const CONTENT: u8 = 1;
const CACHE: u8 = 2;
const DIVERTED: u8 = 4;
const SIGNED: u8 = 8;
const DELETED: u8 = 16;
/// A value that expires carries the seconds it has left (4 bytes, rounded
/// up) after its flags.
const EXPIRES: u8 = 32;

/// Where a get's `tried` byte sits, and the bit the [`super::Lookups`]
/// forwarder sets in it when it hands the get to a node on the way (so
/// that node knows it is not the root the overlay chose).
pub(crate) const GET_TRIED_AT: usize = 1 + 8 + ID_BYTES + 8;
pub(crate) const ON_THE_WAY: u8 = 0x80;

/// Bytes of one listing entry: key and version.
pub(crate) const LISTING_ENTRY: usize = ID_BYTES + 8;

/// The largest header before a value (a `Store` with an IPv6 client).
pub const VALUE_OVERHEAD: usize = 1 + 8 + ID_BYTES + 9 + 4 + 1 + crate::wire::cursor::MAX_PEER_LEN;

/// What a replica did with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Stored,
    Stale { current: u64 },
    Full,
    Forged,
    Protected,
    OverQuota,
}

/// One DHT message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Msg<'a> {
    /// Client → root of `key`; or (`here`, a secure put) client → each
    /// replica root a secure lookup found: store, do not copy on.
    Put {
        op: u64,
        key: Id,
        meta: Meta,
        here: bool,
        value: &'a [u8],
    },
    /// A copy for a replica (from the root for a client's put, `client`
    /// set; or from replica maintenance), or for a cache (`cache`).
    Store {
        op: u64,
        key: Id,
        meta: Meta,
        cache: bool,
        client: Option<Peer>,
        value: &'a [u8],
    },
    /// Replica → client.
    StoreAck {
        op: u64,
        key: Id,
        version: u64,
        outcome: Outcome,
    },
    /// Client → root (per-hop, so caches on the path may answer);
    /// `tried` counts replicas that lacked it.
    Get {
        op: u64,
        key: Id,
        min_version: u64,
        tried: u8,
        client: Option<Peer>,
    },
    /// Answer → client.
    Value {
        op: u64,
        key: Id,
        meta: Meta,
        cached: bool,
        value: &'a [u8],
    },
    NotFound {
        op: u64,
        key: Id,
    },
    /// Replica maintenance: a summary of the sender's values in `range`.
    Digest {
        range: KeyRange,
        count: u32,
        hash: u64,
        confirm: bool,
    },
    /// The receiver's values in `range` match the digest.
    Match {
        range: KeyRange,
    },
    /// The receiver's keys and versions in `range`, from its start; `more`
    /// if they did not all fit.
    Listing {
        range: KeyRange,
        more: bool,
        entries: &'a [u8],
    },
}

mod kind {
    pub(super) const PUT: u8 = 1;
    pub(super) const STORE: u8 = 2;
    pub(super) const STORE_ACK: u8 = 3;
    pub(super) const GET: u8 = 4;
    pub(super) const VALUE: u8 = 5;
    pub(super) const NOT_FOUND: u8 = 6;
    pub(super) const DIGEST: u8 = 7;
    pub(super) const MATCH: u8 = 8;
    pub(super) const LISTING: u8 = 9;
    pub(super) const PUT_HERE: u8 = 10;
}

/// The kind byte of a get.
pub(crate) const GET_KIND: u8 = kind::GET;

/// Whether a DHT payload is replica-maintenance traffic (what the
/// simulator reports as replication): summaries, listings and
/// copies pushed to replicas.
pub fn is_replication(payload: &[u8]) -> bool {
    match payload.first().copied() {
        Some(kind::DIGEST | kind::MATCH | kind::LISTING) => true,
        Some(kind::STORE) => !matches!(
            Msg::decode(payload, Instant::ZERO),
            Ok(Msg::Store { cache: true, .. })
        ),
        _ => false,
    }
}

impl<'a> Msg<'a> {
    /// Decodes a message received at `now` (a value's time left becomes
    /// an expiry on this node's clock).
    pub(crate) fn decode(bytes: &'a [u8], now: Instant) -> Result<Msg<'a>, DecodeError> {
        let mut r = Reader::new(bytes);
        let k = r.u8()?;
        let msg = match k {
            kind::PUT | kind::PUT_HERE => {
                let (op, key) = (r.u64()?, r.id()?);
                let (meta, cache) = meta(&mut r, now)?;
                if cache {
                    return Err(DecodeError::ReservedFlags);
                }
                let value = r.take(r.peek_rest().len())?;
                Msg::Put {
                    op,
                    key,
                    meta,
                    here: k == kind::PUT_HERE,
                    value,
                }
            }
            kind::STORE => {
                let (op, key) = (r.u64()?, r.id()?);
                let (meta, cache) = meta(&mut r, now)?;
                let client = optional_peer(&mut r)?;
                let value = r.take(r.peek_rest().len())?;
                Msg::Store {
                    op,
                    key,
                    meta,
                    cache,
                    client,
                    value,
                }
            }
            kind::STORE_ACK => {
                let (op, key, version) = (r.u64()?, r.id()?, r.u64()?);
                let outcome = match (r.u8()?, r.u64()?) {
                    (0, 0) => Outcome::Stored,
                    (1, current) => Outcome::Stale { current },
                    (2, 0) => Outcome::Full,
                    (3, 0) => Outcome::Forged,
                    (4, 0) => Outcome::Protected,
                    (5, 0) => Outcome::OverQuota,
                    _ => return Err(DecodeError::ReservedFlags),
                };
                Msg::StoreAck {
                    op,
                    key,
                    version,
                    outcome,
                }
            }
            kind::GET => Msg::Get {
                op: r.u64()?,
                key: r.id()?,
                min_version: r.u64()?,
                tried: r.u8()?,
                client: optional_peer(&mut r)?,
            },
            kind::VALUE => {
                let (op, key) = (r.u64()?, r.id()?);
                let (meta, cached) = meta(&mut r, now)?;
                let value = r.take(r.peek_rest().len())?;
                Msg::Value {
                    op,
                    key,
                    meta,
                    cached,
                    value,
                }
            }
            kind::NOT_FOUND => Msg::NotFound {
                op: r.u64()?,
                key: r.id()?,
            },
            kind::DIGEST => Msg::Digest {
                range: range(&mut r)?,
                count: r.u32()?,
                hash: r.u64()?,
                confirm: flag(&mut r)?,
            },
            kind::MATCH => Msg::Match {
                range: range(&mut r)?,
            },
            kind::LISTING => {
                let range = range(&mut r)?;
                let more = flag(&mut r)?;
                let n = usize::from(r.u16()?);
                let entries = r.take(n * LISTING_ENTRY)?;
                Msg::Listing {
                    range,
                    more,
                    entries,
                }
            }
            other => return Err(DecodeError::UnknownKind(other)),
        };
        if !r.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(msg)
    }

    /// Encodes into `buf`; the length, or `None` if it does not fit.
    /// Encodes the message as sent at `now`.
    pub(crate) fn encode(&self, buf: &mut [u8], now: Instant) -> Option<usize> {
        let mut w = Writer::new(buf);
        match *self {
            Msg::Put {
                op,
                key,
                meta,
                here,
                value,
            } => {
                w.u8(if here { kind::PUT_HERE } else { kind::PUT });
                w.u64(op);
                w.id(key);
                put_meta(&mut w, meta, false, now);
                w.bytes(value);
            }
            Msg::Store {
                op,
                key,
                meta,
                cache,
                client,
                value,
            } => {
                w.u8(kind::STORE);
                w.u64(op);
                w.id(key);
                put_meta(&mut w, meta, cache, now);
                put_optional_peer(&mut w, client);
                w.bytes(value);
            }
            Msg::StoreAck {
                op,
                key,
                version,
                outcome,
            } => {
                w.u8(kind::STORE_ACK);
                w.u64(op);
                w.id(key);
                w.u64(version);
                let (code, current) = match outcome {
                    Outcome::Stored => (0, 0),
                    Outcome::Stale { current } => (1, current),
                    Outcome::Full => (2, 0),
                    Outcome::Forged => (3, 0),
                    Outcome::Protected => (4, 0),
                    Outcome::OverQuota => (5, 0),
                };
                w.u8(code);
                w.u64(current);
            }
            Msg::Get {
                op,
                key,
                min_version,
                tried,
                client,
            } => {
                w.u8(kind::GET);
                w.u64(op);
                w.id(key);
                w.u64(min_version);
                w.u8(tried);
                put_optional_peer(&mut w, client);
            }
            Msg::Value {
                op,
                key,
                meta,
                cached,
                value,
            } => {
                w.u8(kind::VALUE);
                w.u64(op);
                w.id(key);
                put_meta(&mut w, meta, cached, now);
                w.bytes(value);
            }
            Msg::NotFound { op, key } => {
                w.u8(kind::NOT_FOUND);
                w.u64(op);
                w.id(key);
            }
            Msg::Digest {
                range,
                count,
                hash,
                confirm,
            } => {
                w.u8(kind::DIGEST);
                put_range(&mut w, range);
                w.u32(count);
                w.u64(hash);
                w.u8(u8::from(confirm));
            }
            Msg::Match { range } => {
                w.u8(kind::MATCH);
                put_range(&mut w, range);
            }
            Msg::Listing {
                range,
                more,
                entries,
            } => {
                w.u8(kind::LISTING);
                put_range(&mut w, range);
                w.u8(u8::from(more));
                w.u16(u16::try_from(entries.len() / LISTING_ENTRY).ok()?);
                w.bytes(entries);
            }
        }
        w.finish()
    }
}

/// Listing entries as (key, version).
pub(crate) fn listing_entries(entries: &[u8]) -> impl Iterator<Item = (Id, u64)> + '_ {
    entries.chunks_exact(LISTING_ENTRY).map(|c| {
        let mut id = [0u8; ID_BYTES];
        id.copy_from_slice(&c[..ID_BYTES]);
        let mut v = [0u8; 8];
        v.copy_from_slice(&c[ID_BYTES..]);
        (Id::from_bytes(id), u64::from_be_bytes(v))
    })
}

fn optional_peer(r: &mut Reader<'_>) -> Result<Option<Peer>, DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.peer()?)),
        _ => Err(DecodeError::ReservedFlags),
    }
}

fn put_optional_peer(w: &mut Writer<'_>, peer: Option<Peer>) {
    match peer {
        None => w.u8(0),
        Some(p) => {
            w.u8(1);
            w.peer(&p);
        }
    }
}

fn meta(r: &mut Reader<'_>, now: Instant) -> Result<(Meta, bool), DecodeError> {
    let version = r.u64()?;
    let flags = r.u8()?;
    let known = CONTENT | CACHE | DIVERTED | SIGNED | DELETED | EXPIRES;
    // A content-hash key is never deleted: nothing could prove it.
    if flags & !known != 0 || flags & (CONTENT | DELETED) == CONTENT | DELETED {
        return Err(DecodeError::ReservedFlags);
    }
    let expires = match flags & EXPIRES {
        0 => None,
        _ => Some(now + Duration::from_secs(u64::from(r.u32()?))),
    };
    let meta = Meta {
        version,
        content: flags & CONTENT != 0,
        diverted: flags & DIVERTED != 0,
        signed: flags & SIGNED != 0,
        deleted: flags & DELETED != 0,
        expires,
    };
    Ok((meta, flags & CACHE != 0))
}

fn put_meta(w: &mut Writer<'_>, meta: Meta, cache: bool, now: Instant) {
    w.u64(meta.version);
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    w.u8(flag(meta.content, CONTENT)
        | flag(meta.diverted, DIVERTED)
        | flag(meta.signed, SIGNED)
        | flag(meta.deleted, DELETED)
        | flag(meta.expires.is_some(), EXPIRES)
        | flag(cache, CACHE));
    if let Some(t) = meta.expires {
        w.u32(secs_left(t, now));
    }
}

/// Whole seconds from `now` to `t`, rounded up (a value is never sent as
/// expiring sooner than it does), at most `u32::MAX`.
fn secs_left(t: Instant, now: Instant) -> u32 {
    let left = t.saturating_duration_since(now);
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn flag(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::ReservedFlags),
    }
}

fn range(r: &mut Reader<'_>) -> Result<KeyRange, DecodeError> {
    Ok(KeyRange {
        start: r.id()?,
        end: r.id()?,
    })
}

fn put_range(w: &mut Writer<'_>, range: KeyRange) {
    w.id(range.start);
    w.id(range.end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SmallRng;

    /// Total and canonical: random payloads (mostly mutated valid ones)
    /// never panic, and whatever decodes encodes back to the same bytes.
    #[test]
    fn decode_is_total_and_canonical() {
        let mut rng = SmallRng::new(7);
        let peer = Peer::new(Id::sha1(b"p"), "[2001:db8::1]:9".parse().unwrap());
        let range = KeyRange {
            start: Id::sha1(b"a"),
            end: Id::sha1(b"b"),
        };
        let now = Instant::from_secs(1_000);
        let meta = Meta {
            version: 9,
            content: true,
            diverted: true,
            signed: true,
            deleted: false,
            expires: Some(now + Duration::from_secs(70)),
        };
        let tombstone = Meta {
            content: false,
            deleted: true,
            expires: None,
            ..meta
        };
        let key = Id::sha1(b"k");
        let entries = [7u8; 2 * LISTING_ENTRY];
        let valid = [
            Msg::Put {
                op: 1,
                key,
                meta,
                here: false,
                value: b"v",
            },
            Msg::Put {
                op: 1,
                key,
                meta,
                here: true,
                value: b"v",
            },
            Msg::Store {
                op: 2,
                key,
                meta,
                cache: true,
                client: Some(peer),
                value: b"w",
            },
            Msg::StoreAck {
                op: 3,
                key,
                version: 4,
                outcome: Outcome::Stale { current: 5 },
            },
            Msg::Get {
                op: 6,
                key,
                min_version: 1,
                tried: 2,
                client: Some(peer),
            },
            Msg::Value {
                op: 7,
                key,
                meta,
                cached: true,
                value: b"x",
            },
            Msg::Value {
                op: 7,
                key,
                meta: tombstone,
                cached: false,
                value: b"",
            },
            Msg::NotFound { op: 8, key },
            Msg::Digest {
                range,
                count: 3,
                hash: 99,
                confirm: true,
            },
            Msg::Match { range },
            Msg::Listing {
                range,
                more: true,
                entries: &entries,
            },
        ];
        let mut buf = [0u8; 2048];
        let mut decoded = 0;
        for m in valid {
            let n = m.encode(&mut buf, now).unwrap();
            assert_eq!(Msg::decode(&buf[..n], now), Ok(m));
            for _ in 0..2_000 {
                let mut b = buf[..n].to_vec();
                match rng.below(3) {
                    0 => {
                        let i = rng.below(n as u64) as usize;
                        b[i] = rng.next_u64() as u8;
                    }
                    1 => b.truncate(rng.below(n as u64) as usize),
                    _ => b.push(rng.next_u64() as u8),
                }
                if let Ok(d) = Msg::decode(&b, now) {
                    decoded += 1;
                    let mut out = [0u8; 2048];
                    let len = d.encode(&mut out, now).unwrap();
                    assert_eq!(&out[..len], &b[..], "{d:?}");
                }
            }
        }
        assert!(decoded > 1_000, "mutations that still decode: {decoded}");
    }
}
