//! The handshake (Hello, Challenge, Confirm, Ready): each end proves it
//! holds the key its id is the hash of, from the address it will be
//! reached at, and the pair agrees the session's key. The responder's
//! cookie is stateless, so it keeps nothing for a stranger until the
//! Confirm.

use core::net::SocketAddr;

use sha2::{Digest, Sha256};

use super::{COOKIE_EPOCH, Guard, Reply, Session};
use crate::id::Id;
use crate::identity::IdentityError;
use crate::peer::Peer;
use crate::time::Instant;
use crate::wire::handshake::{CHALLENGE_LABEL, CONFIRM_LABEL, NONCE_BYTES, Proof};
use crate::wire::{Body, Message};

impl<const N: usize> Guard<N> {
    pub(super) fn proof(
        &self,
        nonce: [u8; NONCE_BYTES],
        cookie: [u8; NONCE_BYTES],
        signed: &[u8],
    ) -> Proof {
        Proof {
            nonce,
            cookie,
            key: self.identity.keypair.public(),
            certificate: self.identity.certificate,
            signature: self.identity.keypair.sign(signed),
        }
    }

    pub(super) fn on_handshake(
        &mut self,
        now: Instant,
        from: SocketAddr,
        m: Message<'_>,
        keep: impl Fn(Id) -> bool,
    ) {
        let own = self.id();
        let peer = Peer::new(m.sender.id, from);
        if peer.id == own {
            self.stats.unsolicited += 1;
            return;
        }
        match m.body {
            Body::Hello(h) => {
                // Two nodes that greet each other at once: the higher id's
                // handshake goes on, the lower answers (else each might
                // finish with a different key).
                if let Some(j) = self.pending.iter().position(|p| p.addr == from) {
                    if own > peer.id {
                        return;
                    }
                    self.pending.swap_remove(j);
                }
                let known = self.sessions.get(peer.id).is_some();
                let room = known || self.sessions.has_room(now, &keep);
                if !room || self.replies.is_full() || !self.take_token(now) {
                    self.stats.rationed += 1;
                    return;
                }
                let cookie = self.cookie(epoch(now), peer, &h.nonce);
                if self.challenged.is_full() {
                    self.challenged.pop_front();
                }
                let _ = self.challenged.push_back((from, now));
                let _ = self.replies.push_back(Reply::Challenge {
                    to: from,
                    initiator: peer.id,
                    nonce: h.nonce,
                    cookie,
                });
            }
            Body::Challenge(p) => {
                let Some(j) = self
                    .pending
                    .iter()
                    .position(|q| q.addr == from && q.nonce == p.nonce && q.confirming.is_none())
                else {
                    self.stats.unsolicited += 1;
                    return;
                };
                let signed = Proof::signed(CHALLENGE_LABEL, own, peer.id, &p.nonce, &p.cookie);
                let Some(key) = self.check(now, peer.id, &p, &signed) else {
                    return;
                };
                // The session takes datagrams now, but this end sends none
                // until the responder's Ready shows it has the session too
                // (else they could overtake the Confirm and be lost).
                let q = &mut self.pending[j];
                q.confirming = Some((peer.id, p.cookie));
                q.due = true;
                q.tries = 1;
                q.deadline = now + self.hello_timeout;
                let key = session_key(key, (own, peer.id), &p);
                self.establish(now, peer, key, false, keep);
            }
            Body::Confirm(p) => {
                let e = epoch(now);
                let ours = [e, e.wrapping_sub(1)]
                    .iter()
                    .any(|&e| self.cookie(e, peer, &p.nonce) == p.cookie);
                if !ours {
                    self.stats.bad_cookie += 1;
                    return;
                }
                if self.recent.iter().any(|n| *n == p.nonce) {
                    // A copy of a Confirm already taken: the Ready may
                    // have been lost; it never resets the session.
                    self.stats.replayed += 1;
                    if self.is_verified(peer) {
                        let _ = self.replies.push_back(Reply::Ready { to: from });
                    }
                    return;
                }
                let signed = Proof::signed(CONFIRM_LABEL, peer.id, own, &p.nonce, &p.cookie);
                let Some(key) = self.check(now, peer.id, &p, &signed) else {
                    return;
                };
                if self.recent.is_full() {
                    self.recent.pop_front();
                }
                let _ = self.recent.push_back(p.nonce);
                let key = session_key(key, (peer.id, own), &p);
                self.establish(now, peer, key, true, keep);
                if self.replies.push_back(Reply::Ready { to: from }).is_err() {
                    // The initiator sends its Confirm again for want of it.
                    self.stats.rationed += 1;
                }
            }
            // Only for a session this end holds at that address; a forged
            // notice costs one rationed handshake.
            Body::Stale if self.is_verified(peer) => {
                self.stats.stale_heard += 1;
                if self.take_token(now) {
                    self.start_again(now, from);
                }
            }
            _ => {}
        }
    }

    /// Checks a proof: its key is the sender's id, admitted, and signed
    /// `signed`; then agrees the pair's secret.
    pub(super) fn check(
        &mut self,
        now: Instant,
        id: Id,
        p: &Proof,
        signed: &[u8],
    ) -> Option<[u8; 32]> {
        let verdict = if p.key.id() != id {
            Err(IdentityError::IdMismatch)
        } else {
            self.admission
                .admits(&p.key, p.certificate.as_ref(), self.unix_now(now))
                .and_then(|()| {
                    p.key
                        .verify_then_agree(signed, &p.signature, &self.identity.keypair)
                })
        };
        match verdict {
            Ok(secret) => Some(secret),
            Err(e) => {
                self.stats.refused += 1;
                self.stats.last_refusal = Some(e);
                None
            }
        }
    }

    pub(super) fn establish(
        &mut self,
        now: Instant,
        peer: Peer,
        key: [u8; 32],
        confirmed: bool,
        keep: impl Fn(Id) -> bool,
    ) {
        let mut session = Session::new(peer, key, now);
        session.confirmed = confirmed;
        if self.sessions.insert(session, keep).is_some() {
            self.stats.evicted += 1;
        }
        if confirmed {
            self.confirmed(peer);
        }
    }

    /// Both ends hold the session: tell the node.
    pub(super) fn confirmed(&mut self, peer: Peer) {
        self.stats.established += 1;
        if let Some(j) = self.pending.iter().position(|p| p.addr == peer.addr) {
            self.pending.swap_remove(j);
        }
        if self.verified.push_back(peer).is_err() {
            self.verified.pop_front();
            let _ = self.verified.push_back(peer);
        }
    }

    pub(super) fn cookie(
        &self,
        epoch: u64,
        peer: Peer,
        nonce: &[u8; NONCE_BYTES],
    ) -> [u8; NONCE_BYTES] {
        let mut addr = [0u8; 19];
        let n = addr_bytes(peer.addr, &mut addr);
        let full = self.identity.keypair.prf(
            b"cookie",
            &[&epoch.to_be_bytes(), &peer.id.to_bytes(), &addr[..n], nonce],
        );
        let mut out = [0u8; NONCE_BYTES];
        out.copy_from_slice(&full[..NONCE_BYTES]);
        out
    }
}

/// The pair's session key: their Diffie-Hellman secret hashed with both
/// ids (initiator first), the nonce and the cookie.
pub(super) fn session_key(
    secret: [u8; 32],
    (initiator, responder): (Id, Id),
    p: &Proof,
) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"pastry/session/v1")
        .chain_update(secret)
        .chain_update(initiator.to_bytes())
        .chain_update(responder.to_bytes())
        .chain_update(p.nonce)
        .chain_update(p.cookie)
        .finalize()
        .into()
}

pub(super) fn epoch(now: Instant) -> u64 {
    now.as_micros() / COOKIE_EPOCH.as_micros() as u64
}

pub(super) fn addr_bytes(addr: SocketAddr, out: &mut [u8; 19]) -> usize {
    match addr {
        SocketAddr::V4(a) => {
            out[..4].copy_from_slice(&a.ip().octets());
            out[4..6].copy_from_slice(&a.port().to_be_bytes());
            6
        }
        SocketAddr::V6(a) => {
            out[..16].copy_from_slice(&a.ip().octets());
            out[16..18].copy_from_slice(&a.port().to_be_bytes());
            18
        }
    }
}
