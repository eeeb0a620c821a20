//! Certified ids (Castro et al., OSDI 2002 §4.1): an authority signs a
//! node's public key and an expiry, so only nodes it chose join, and an
//! attacker cannot mint ids (a Sybil attack) or place them near a key.

use super::IdentityError;
use super::keys::{Keypair, PUBLIC_KEY_BYTES, PublicKey, SIGNATURE_BYTES, Signature};
use crate::id::ID_BYTES;

/// Seconds since the Unix epoch. Certificates expire in wall time, which
/// the core never reads: the runtime tells the node the time
/// (`Node::set_unix_time`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct UnixTime(pub u64);

/// Bytes of an encoded [`Certificate`]: key, expiry, signature.
pub const CERTIFICATE_BYTES: usize = PUBLIC_KEY_BYTES + 8 + SIGNATURE_BYTES;

/// What the authority signs: a label, the id, the key and the expiry.
const LABEL: &[u8; 16] = b"pastry/cert/v1\0\0";
const SIGNED_BYTES: usize = LABEL.len() + ID_BYTES + PUBLIC_KEY_BYTES + 8;

/// An authority's statement that `key` (and so the id it certifies) may
/// be a member until `expires`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Certificate {
    /// The member's public key.
    pub key: PublicKey,
    /// After this second the certificate no longer admits anyone.
    pub expires: UnixTime,
    /// The authority's signature over the label, id, key and expiry.
    pub signature: Signature,
}

impl Certificate {
    /// The authority's certificate for `key`, valid until `expires`.
    pub fn issue(authority: &Keypair, key: PublicKey, expires: UnixTime) -> Certificate {
        Certificate {
            key,
            expires,
            signature: authority.sign(&signed_bytes(&key, expires)),
        }
    }

    /// Checks that `authority` signed this certificate and that it has
    /// not expired at `now`.
    pub fn verify(&self, authority: &PublicKey, now: UnixTime) -> Result<(), IdentityError> {
        authority
            .verify(&signed_bytes(&self.key, self.expires), &self.signature)
            .map_err(|_| IdentityError::BadCertificate)?;
        if now >= self.expires {
            return Err(IdentityError::Expired);
        }
        Ok(())
    }

    /// The certificate's wire form.
    pub fn to_bytes(&self) -> [u8; CERTIFICATE_BYTES] {
        let mut out = [0u8; CERTIFICATE_BYTES];
        out[..32].copy_from_slice(&self.key.to_bytes());
        out[32..40].copy_from_slice(&self.expires.0.to_be_bytes());
        out[40..].copy_from_slice(&self.signature.0);
        out
    }

    /// Reads a certificate's wire form without checking its key (the
    /// handshake checks the key when it verifies the proof it came with).
    pub(crate) fn from_bytes_unchecked(bytes: &[u8; CERTIFICATE_BYTES]) -> Certificate {
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[..32]);
        let mut expires = [0u8; 8];
        expires.copy_from_slice(&bytes[32..40]);
        let mut signature = [0u8; SIGNATURE_BYTES];
        signature.copy_from_slice(&bytes[40..]);
        Certificate {
            key: PublicKey::from_bytes_unchecked(key),
            expires: UnixTime(u64::from_be_bytes(expires)),
            signature: Signature(signature),
        }
    }

    /// Reads a certificate's wire form; refuses a key that cannot verify
    /// (the signature is checked by [`Certificate::verify`]).
    pub fn from_bytes(bytes: &[u8; CERTIFICATE_BYTES]) -> Result<Certificate, IdentityError> {
        let cert = Certificate::from_bytes_unchecked(bytes);
        PublicKey::from_bytes(cert.key.to_bytes())?;
        Ok(cert)
    }
}

fn signed_bytes(key: &PublicKey, expires: UnixTime) -> [u8; SIGNED_BYTES] {
    let mut out = [0u8; SIGNED_BYTES];
    let (label, rest) = out.split_at_mut(LABEL.len());
    label.copy_from_slice(LABEL);
    let (id, rest) = rest.split_at_mut(ID_BYTES);
    id.copy_from_slice(&key.id().to_bytes());
    let (k, e) = rest.split_at_mut(PUBLIC_KEY_BYTES);
    k.copy_from_slice(&key.to_bytes());
    e.copy_from_slice(&expires.0.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_admits_until_it_expires_and_only_under_its_authority() {
        let authority = Keypair::from_secret([1; 32]);
        let other = Keypair::from_secret([2; 32]);
        let member = Keypair::from_secret([3; 32]).public();
        let cert = Certificate::issue(&authority, member, UnixTime(1000));
        assert_eq!(cert.verify(&authority.public(), UnixTime(999)), Ok(()));
        assert_eq!(
            cert.verify(&authority.public(), UnixTime(1000)),
            Err(IdentityError::Expired)
        );
        assert_eq!(
            cert.verify(&other.public(), UnixTime(0)),
            Err(IdentityError::BadCertificate)
        );
        // Any changed field breaks the signature.
        let mut later = cert;
        later.expires = UnixTime(5000);
        assert_eq!(
            later.verify(&authority.public(), UnixTime(0)),
            Err(IdentityError::BadCertificate)
        );
        let mut swapped = cert;
        swapped.key = other.public();
        assert_eq!(
            swapped.verify(&authority.public(), UnixTime(0)),
            Err(IdentityError::BadCertificate)
        );
    }

    #[test]
    fn the_wire_form_round_trips_and_refuses_a_bad_key() {
        let authority = Keypair::from_secret([1; 32]);
        let cert = Certificate::issue(&authority, authority.public(), UnixTime(7));
        let bytes = cert.to_bytes();
        assert_eq!(Certificate::from_bytes(&bytes), Ok(cert));
        let mut bad = bytes;
        bad[..32].copy_from_slice(&[0; 32]);
        bad[0] = 2;
        assert_eq!(Certificate::from_bytes(&bad), Err(IdentityError::BadKey));
    }
}
