//! The handshake that admits a peer (DESIGN.md, trust model): a fresh
//! challenge answered with a signature from the address the peer will be
//! reached at, in both directions, and a key for the pair's later
//! datagrams.
//!
//! ```text
//! A → B  Hello      nonce (16) | zero padding
//! B → A  Challenge  nonce | cookie (16) | B's key (32) | certificate? | B's signature
//! A → B  Confirm    nonce | cookie      | A's key      | certificate? | A's signature
//! ```
//!
//! B keeps no state for a Hello: its cookie is a keyed hash of A's id and
//! address and the nonce (a stateless cookie, as in Photuris and DTLS), so
//! a flood of Hellos costs B one signature each and no memory, and a
//! Confirm from an address that did not receive the cookie is refused. A
//! Hello is padded to the length of the Challenge it asks for, so B never
//! answers a stranger with more bytes than it was sent.

use super::DecodeError;
use super::cursor::{Reader, Writer};
use crate::identity::{
    CERTIFICATE_BYTES, Certificate, PUBLIC_KEY_BYTES, PublicKey, SIGNATURE_BYTES, Signature,
};

/// Bytes of a handshake nonce or cookie.
pub const NONCE_BYTES: usize = 16;

/// The longest [`Proof`] body: nonce, cookie, key, flag, certificate,
/// signature.
pub const MAX_PROOF_LEN: usize =
    2 * NONCE_BYTES + PUBLIC_KEY_BYTES + 1 + CERTIFICATE_BYTES + SIGNATURE_BYTES;

/// Padding after a Hello's nonce: a Hello is as long as the longest
/// answer to it.
pub const HELLO_PADDING: usize = MAX_PROOF_LEN - NONCE_BYTES;

/// A's challenge to whoever is at B's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Fresh and unpredictable; B's signature must cover it.
    pub nonce: [u8; NONCE_BYTES],
}

/// A Challenge (B's answer to a Hello) or a Confirm (A's answer to the
/// Challenge): the signer's key, certificate and signature over both
/// ends' ids, the nonce and the cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proof {
    /// The Hello's nonce.
    pub nonce: [u8; NONCE_BYTES],
    /// B's stateless cookie.
    pub cookie: [u8; NONCE_BYTES],
    /// The signer's public key, as claimed (checked when the proof is
    /// verified); the header's sender id must be its hash.
    pub key: PublicKey,
    /// The signer's certificate, in the certified admission mode.
    pub certificate: Option<Certificate>,
    /// See [`Proof::signed`].
    pub signature: Signature,
}

/// What a Challenge signs: a label, then the initiator's and responder's
/// ids, the nonce and the cookie.
pub const CHALLENGE_LABEL: &[u8; 16] = b"pastry/challenge";
/// What a Confirm signs, with the same fields.
pub const CONFIRM_LABEL: &[u8; 16] = b"pastry/confirm\0\0";

/// Bytes a proof's signature covers.
pub const SIGNED_LEN: usize = 16 + 2 * crate::id::ID_BYTES + 2 * NONCE_BYTES;

impl Proof {
    /// The bytes the signer signs: `label`, the initiator's id, the
    /// responder's id, the nonce and the cookie.
    pub fn signed(
        label: &[u8; 16],
        initiator: crate::id::Id,
        responder: crate::id::Id,
        nonce: &[u8; NONCE_BYTES],
        cookie: &[u8; NONCE_BYTES],
    ) -> [u8; SIGNED_LEN] {
        let mut out = [0u8; SIGNED_LEN];
        let mut w = Writer::new(&mut out);
        w.bytes(label);
        w.id(initiator);
        w.id(responder);
        w.bytes(nonce);
        w.bytes(cookie);
        debug_assert_eq!(w.finish(), Some(SIGNED_LEN));
        out
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Proof, DecodeError> {
        let nonce = r.array()?;
        let cookie = r.array()?;
        // The key is checked when the proof is verified, not here: the
        // curve arithmetic is the handshake's cost, paid once.
        let key = PublicKey::from_bytes_unchecked(r.array()?);
        let certificate = match r.u8()? {
            0 => None,
            1 => Some(Certificate::from_bytes_unchecked(&r.array()?)),
            _ => return Err(DecodeError::ReservedFlags),
        };
        Ok(Proof {
            nonce,
            cookie,
            key,
            certificate,
            signature: Signature(r.array()?),
        })
    }

    pub(crate) fn encoded_len(&self) -> usize {
        2 * NONCE_BYTES
            + PUBLIC_KEY_BYTES
            + 1
            + self.certificate.map_or(0, |_| CERTIFICATE_BYTES)
            + SIGNATURE_BYTES
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.bytes(&self.nonce);
        w.bytes(&self.cookie);
        w.bytes(&self.key.to_bytes());
        match &self.certificate {
            None => w.u8(0),
            Some(c) => {
                w.u8(1);
                w.bytes(&c.to_bytes());
            }
        }
        w.bytes(&self.signature.0);
    }
}

impl Hello {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Hello, DecodeError> {
        let nonce = r.array()?;
        if r.take(HELLO_PADDING)?.iter().any(|&b| b != 0) {
            return Err(DecodeError::BadPadding);
        }
        Ok(Hello { nonce })
    }

    pub(crate) const ENCODED_LEN: usize = NONCE_BYTES + HELLO_PADDING;

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.bytes(&self.nonce);
        w.bytes(&[0; HELLO_PADDING]);
    }
}
