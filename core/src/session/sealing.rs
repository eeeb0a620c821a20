//! Sealed datagrams: after the handshake every datagram carries a
//! sequence number and an HMAC-SHA-256 tag under the pair's key (RFC 4303
//! §3.4.3's replay window), and is believed only from the verified peer
//! at the address its session was made with.

use core::net::SocketAddr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{Guard, Opened, TAG_BYTES, TRAILER_BYTES};
use crate::id::Id;
use crate::peer::Peer;
use crate::time::Instant;
use crate::wire::cursor::Reader;
use crate::wire::{DecodeError, Kind, MAGIC, Message, VERSION};

impl<const N: usize> Guard<N> {
    /// Takes a datagram: a handshake message is handled here; any other
    /// comes back without its trailer if its sender has a session at
    /// `from`, its tag verifies and its sequence number is new.
    pub fn open<'b>(&mut self, now: Instant, from: SocketAddr, bytes: &'b [u8]) -> Opened<'b> {
        self.open_keeping(now, from, bytes, |_| false)
    }

    /// Like [`Guard::open`]; a handshake it completes makes room, when
    /// the cache is full, by pushing out a session whose peer `keep`
    /// does not name (a node keeps its leaf set's and table's).
    pub fn open_keeping<'b>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &'b [u8],
        keep: impl Fn(Id) -> bool,
    ) -> Opened<'b> {
        let Some(&kind) = bytes.get(3) else {
            return Opened::Dropped;
        };
        if Kind::from_u8(kind).is_some_and(Kind::is_handshake) {
            match Message::decode(bytes) {
                Ok(m) => self.on_handshake(now, from, m, keep),
                Err(_) => return Opened::Dropped,
            }
            return Opened::Handshake;
        }
        let Some(split) = bytes.len().checked_sub(TRAILER_BYTES) else {
            return Opened::Dropped;
        };
        let (message, trailer) = bytes.split_at(split);
        let Ok(id) = header_sender(message) else {
            return Opened::Dropped;
        };
        let Some(session) = self.sessions.by_id(id) else {
            self.stats.no_session += 1;
            return Opened::Unverified { id };
        };
        if session.peer.addr != from {
            // Believed only once the new address answers for the key.
            self.stats.wrong_address += 1;
            return Opened::Unverified { id };
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&trailer[..8]);
        let seq = u64::from_be_bytes(seq);
        let tag = &trailer[8..];
        let keyed = if tag_matches(&session.current.key, message, seq, tag) {
            &mut session.current
        } else {
            match session.previous.as_mut() {
                Some(p) if tag_matches(&p.key, message, seq, tag) => p,
                _ => {
                    self.stats.bad_tag += 1;
                    // Forged, or the two ends hold different keys: a new
                    // handshake (one at a time, rationed) settles it.
                    if self.take_token(now) {
                        self.start_again(now, from);
                    }
                    return Opened::Dropped;
                }
            }
        };
        if !keyed.fresh(seq) {
            self.stats.replayed += 1;
            return Opened::Dropped;
        }
        keyed.mark(seq);
        let sender = session.peer;
        session.used = now;
        let newly = !session.confirmed;
        session.confirmed = true;
        if newly {
            // The responder's first authentic datagram: its Ready, or
            // what followed a Ready that was lost.
            self.confirmed(sender);
        }
        if message.get(3) == Some(&(Kind::Ready as u8)) {
            return Opened::Handshake;
        }
        Opened::Authentic { sender, message }
    }

    /// Appends the trailer for the session at `to` to the `len` bytes of
    /// message in `buf`; the new length, or `None` without a session (or
    /// without room in `buf`).
    pub fn seal(
        &mut self,
        now: Instant,
        to: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<usize> {
        let s = self.sessions.by_addr(to)?;
        let end = len + TRAILER_BYTES;
        if buf.len() < end {
            return None;
        }
        s.sent += 1;
        s.used = now;
        let seq = s.sent;
        let tag = tag(&s.current.key, &buf[..len], seq);
        buf[len..len + 8].copy_from_slice(&seq.to_be_bytes());
        buf[len + 8..end].copy_from_slice(&tag[..TAG_BYTES]);
        Some(end)
    }

    /// Encodes `msg` into `buf` and seals it for the session at `to`: the
    /// datagram's length, or `None` without a session (or room).
    pub fn send(
        &mut self,
        now: Instant,
        to: SocketAddr,
        msg: &Message<'_>,
        buf: &mut [u8],
    ) -> Option<usize> {
        let room = buf.len().checked_sub(TRAILER_BYTES)?;
        let len = msg.encode(&mut buf[..room]).ok()?;
        self.seal(now, to, buf, len)
    }

    /// Opens and decodes a datagram: the verified sender and its message,
    /// or `None` for a handshake message (handled) or anything dropped.
    pub fn receive<'b>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &'b [u8],
    ) -> Option<(Peer, Message<'b>)> {
        match self.open(now, from, bytes) {
            Opened::Authentic { sender, message } => Some((sender, Message::decode(message).ok()?)),
            _ => None,
        }
    }
}

/// The sender id in a message's header, read without decoding the body.
fn header_sender(bytes: &[u8]) -> Result<Id, DecodeError> {
    let mut r = Reader::new(bytes);
    if r.take(2)? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let v = r.u8()?;
    if v != VERSION {
        return Err(DecodeError::UnsupportedVersion(v));
    }
    r.u8()?;
    r.u16()?;
    r.id()
}

fn mac(key: &[u8; 32], message: &[u8], seq: u64) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.update(&seq.to_be_bytes());
    mac
}

fn tag(key: &[u8; 32], message: &[u8], seq: u64) -> [u8; 32] {
    mac(key, message, seq).finalize().into_bytes().into()
}

/// Compares in constant time, so a forger learns nothing from timing.
fn tag_matches(key: &[u8; 32], message: &[u8], seq: u64, got: &[u8]) -> bool {
    mac(key, message, seq).verify_truncated_left(got).is_ok()
}
