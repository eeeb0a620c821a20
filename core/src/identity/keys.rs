//! Ed25519 keys, and ids that are the SHA-1 of a public key: a node's id
//! certifies itself (Castro et al., OSDI 2002 §4; S/Kademlia §4.1), so a
//! datagram cannot claim an id without the key behind it.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::IdentityError;
use crate::id::Id;

/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;
/// Bytes of the secret a key pair is made from (its seed).
pub const SECRET_BYTES: usize = 32;

/// An Ed25519 public key, checked to be a point of the curve that is not
/// of small order when it was made, so it can verify.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    bytes: [u8; PUBLIC_KEY_BYTES],
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; SIGNATURE_BYTES]);

/// A node's (or an authority's) key pair. Its `Debug` shows the public
/// half only, and the secret is wiped from memory when it is dropped.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl PublicKey {
    /// The key these bytes encode; refuses bytes that are not a point of
    /// the curve, and weak (small-order) keys, which would let anything
    /// verify.
    pub fn from_bytes(bytes: [u8; PUBLIC_KEY_BYTES]) -> Result<PublicKey, IdentityError> {
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| IdentityError::BadKey)?;
        if key.is_weak() {
            return Err(IdentityError::BadKey);
        }
        Ok(PublicKey { bytes })
    }

    /// Bytes taken as a key without the check (a datagram's claim): every
    /// use ([`PublicKey::verify`], Diffie-Hellman) checks it, and the wire
    /// need not pay for the curve arithmetic twice.
    pub(crate) fn from_bytes_unchecked(bytes: [u8; PUBLIC_KEY_BYTES]) -> PublicKey {
        PublicKey { bytes }
    }

    /// Checks `sig` over `msg` like [`PublicKey::verify`], then agrees
    /// the Diffie-Hellman secret `own` shares with this key, decompressing
    /// the key once for both (a handshake's cost is mostly curve
    /// arithmetic).
    pub(crate) fn verify_then_agree(
        &self,
        msg: &[u8],
        sig: &Signature,
        own: &Keypair,
    ) -> Result<[u8; 32], IdentityError> {
        let key = VerifyingKey::from_bytes(&self.bytes).map_err(|_| IdentityError::BadKey)?;
        if key.is_weak() {
            return Err(IdentityError::BadKey);
        }
        key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
            .map_err(|_| IdentityError::BadSignature)?;
        let scalar = own.signing.to_scalar_bytes();
        // X25519 of the keys' Montgomery forms. On the Edwards point the
        // u-coordinate comes out the same, and curve25519-dalek's
        // vectorised multiply beats its serial ladder by about a quarter
        // on x86-64; constrained builds keep the ladder, which is already
        // linked and smaller.
        #[cfg(feature = "std")]
        let shared = key
            .to_edwards()
            .mul_clamped(scalar)
            .to_montgomery()
            .to_bytes();
        #[cfg(not(feature = "std"))]
        let shared = key.to_montgomery().mul_clamped(scalar).to_bytes();
        if shared == [0; 32] {
            return Err(IdentityError::BadKey);
        }
        Ok(shared)
    }

    /// The key's 32 bytes.
    pub fn to_bytes(self) -> [u8; PUBLIC_KEY_BYTES] {
        self.bytes
    }

    /// The id this key certifies: the SHA-1 of its bytes.
    pub fn id(&self) -> Id {
        Id::sha1(&self.bytes)
    }

    /// Checks `sig` over `msg` strictly (RFC 8032 §5.1.7, without the
    /// malleable encodings `verify_strict` refuses).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), IdentityError> {
        let key = VerifyingKey::from_bytes(&self.bytes).map_err(|_| IdentityError::BadKey)?;
        key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig.0))
            .map_err(|_| IdentityError::BadSignature)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(")?;
        for b in &self.bytes[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

impl Keypair {
    /// The key pair made from a 32-byte secret (what the key file holds).
    pub fn from_secret(secret: [u8; SECRET_BYTES]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// A fresh key pair from `rng`, which must be a cryptographic source
    /// (the operating system's, in a runtime).
    pub fn generate(rng: &mut impl rand_core::CryptoRng) -> Keypair {
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill_bytes(&mut secret);
        Keypair::from_secret(secret)
    }

    /// The secret this pair is made from, to store in a key file.
    pub fn secret(&self) -> [u8; SECRET_BYTES] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            bytes: self.signing.verifying_key().to_bytes(),
        }
    }

    /// The id this pair certifies.
    pub fn id(&self) -> Id {
        self.public().id()
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.signing.sign(msg).to_bytes())
    }

    /// The Diffie-Hellman secret this pair shares with `peer` (X25519 on
    /// the keys' Montgomery forms): both ends compute the same bytes.
    /// `None` when the result is the identity (a weak peer key).
    #[cfg(test)]
    pub(crate) fn agree(&self, peer: &PublicKey) -> Option<[u8; 32]> {
        let point = VerifyingKey::from_bytes(&peer.bytes).ok()?.to_montgomery();
        let shared = point.mul_clamped(self.signing.to_scalar_bytes()).to_bytes();
        (shared != [0; 32]).then_some(shared)
    }

    /// A keyed pseudo-random function of this node's secret: cookies and
    /// handshake nonces that nobody else can predict, yet the same for the
    /// same inputs (the core stays deterministic).
    pub(crate) fn prf(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let key = Sha256::new()
            .chain_update(b"pastry/prf-key")
            .chain_update(self.signing.to_bytes())
            .finalize();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key)
            .expect("HMAC takes a key of any length");
        mac.update(label);
        for p in parts {
            mac.update(&(p.len() as u32).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl Id {
    /// The id a public key certifies (the SHA-1 of its bytes).
    pub fn of_key(key: &PublicKey) -> Id {
        key.id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(n: u8) -> Keypair {
        Keypair::from_secret([n; 32])
    }

    #[test]
    fn a_signature_verifies_under_its_key_only_and_for_its_message_only() {
        let (a, b) = (pair(1), pair(2));
        let sig = a.sign(b"hello");
        assert_eq!(a.public().verify(b"hello", &sig), Ok(()));
        assert_eq!(
            a.public().verify(b"hellp", &sig),
            Err(IdentityError::BadSignature)
        );
        assert_eq!(
            b.public().verify(b"hello", &sig),
            Err(IdentityError::BadSignature)
        );
        let mut bent = sig;
        bent.0[63] ^= 0x10;
        assert!(a.public().verify(b"hello", &bent).is_err());
    }

    #[test]
    fn the_id_is_the_sha1_of_the_public_key_and_the_secret_round_trips() {
        let a = pair(3);
        assert_eq!(a.id(), Id::sha1(&a.public().to_bytes()));
        assert_eq!(Keypair::from_secret(a.secret()).public(), a.public());
        assert_eq!(PublicKey::from_bytes(a.public().to_bytes()), Ok(a.public()));
    }

    #[test]
    fn weak_and_invalid_keys_are_refused() {
        // The identity point (y = 1) has small order: it would verify
        // signatures nobody made.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_bytes(identity), Err(IdentityError::BadKey));
        // y = 2 is not the y of any curve point.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert_eq!(PublicKey::from_bytes(off_curve), Err(IdentityError::BadKey));
    }

    #[test]
    fn both_ends_agree_the_same_secret_and_a_third_does_not() {
        let (a, b, c) = (pair(4), pair(5), pair(6));
        let ab = a.agree(&b.public()).unwrap();
        assert_eq!(Some(ab), b.agree(&a.public()));
        assert_ne!(Some(ab), c.agree(&b.public()));
        // The handshake's path agrees the same, after verifying.
        let sig = b.sign(b"m");
        assert_eq!(b.public().verify_then_agree(b"m", &sig, &a), Ok(ab));
        assert_eq!(
            b.public().verify_then_agree(b"n", &sig, &a),
            Err(IdentityError::BadSignature)
        );
    }

    #[test]
    fn the_handshakes_multiply_matches_the_x25519_ladder_for_many_keys() {
        // The oracle is the Montgomery ladder of `agree`; the handshake's
        // path may multiply on the Edwards point instead.
        for n in 0..64u8 {
            let (a, b) = (pair(n.wrapping_mul(7) ^ 0x55), pair(n));
            let sig = b.sign(&[n]);
            assert_eq!(
                b.public().verify_then_agree(&[n], &sig, &a).ok(),
                a.agree(&b.public()),
                "keys {n}"
            );
        }
    }

    #[test]
    fn the_prf_depends_on_the_secret_the_label_and_every_part() {
        let (a, b) = (pair(7), pair(8));
        let x = a.prf(b"cookie", &[b"ab", b"c"]);
        assert_eq!(x, a.prf(b"cookie", &[b"ab", b"c"]));
        assert_ne!(x, b.prf(b"cookie", &[b"ab", b"c"]));
        assert_ne!(x, a.prf(b"nonce", &[b"ab", b"c"]));
        // Parts are length-prefixed: moving a byte across a boundary differs.
        assert_ne!(x, a.prf(b"cookie", &[b"a", b"bc"]));
    }
}
