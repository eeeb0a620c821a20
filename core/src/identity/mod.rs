//! Who a node is, and whom it admits (the trust model of DESIGN.md).
//!
//! A node's id is the SHA-1 of its Ed25519 public key, so an id cannot be
//! claimed without the secret behind it. Which keys may be members is the
//! [`Admission`] mode: **open** to any key, optionally only to keys whose
//! id solves a static puzzle (S/Kademlia §4.1), or **certified**, where an
//! authority signs each member's key with an expiry (Castro et al., OSDI
//! 2002 §4.1, their remedy for Sybil attacks).
//!
//! ```
//! use pastry_core::identity::{Admission, Certificate, Keypair, UnixTime};
//!
//! let authority = Keypair::from_secret([1; 32]);
//! let node = Keypair::from_secret([2; 32]);
//! let cert = Certificate::issue(&authority, node.public(), UnixTime(2_000_000_000));
//!
//! let mode = Admission::Certified { authority: authority.public() };
//! let now = Some(UnixTime(1_800_000_000));
//! assert!(mode.admits(&node.public(), Some(&cert), now).is_ok());
//! // A key the authority did not sign is refused, whatever it presents.
//! let sybil = Keypair::from_secret([3; 32]);
//! assert!(mode.admits(&sybil.public(), Some(&cert), now).is_err());
//! ```

mod admission;
mod certificate;
mod keys;

use core::fmt;

pub use admission::{Admission, MAX_PUZZLE_BITS, puzzle_bits};
pub use certificate::{CERTIFICATE_BYTES, Certificate, UnixTime};
pub use keys::{Keypair, PUBLIC_KEY_BYTES, PublicKey, SECRET_BYTES, SIGNATURE_BYTES, Signature};

/// A node's credentials: its key pair and, in the certified admission
/// mode, the authority's certificate for its key.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The node's key pair; its id is the hash of the public half.
    pub keypair: Keypair,
    /// The authority's certificate for the key, if the node has one.
    pub certificate: Option<Certificate>,
}

impl Identity {
    /// Credentials of a key pair without a certificate.
    pub fn new(keypair: Keypair) -> Identity {
        Identity {
            keypair,
            certificate: None,
        }
    }

    /// The same credentials with `certificate`.
    pub fn with_certificate(self, certificate: Certificate) -> Identity {
        Identity {
            certificate: Some(certificate),
            ..self
        }
    }

    /// The id these credentials certify.
    pub fn id(&self) -> crate::id::Id {
        self.keypair.id()
    }
}

impl From<Keypair> for Identity {
    fn from(keypair: Keypair) -> Identity {
        Identity::new(keypair)
    }
}

/// Why a key, signature or certificate was refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum IdentityError {
    /// Bytes that are not a usable public key (off the curve, or weak).
    BadKey,
    /// A signature that does not verify.
    BadSignature,
    /// A certificate not signed by the configured authority, or for
    /// another key.
    BadCertificate,
    /// A certificate past its expiry.
    Expired,
    /// The certified mode needs a certificate and none came.
    NoCertificate,
    /// The certified mode needs the wall time, and the node was not told it.
    NoClock,
    /// An id whose SHA-1 has fewer leading zero bits than the puzzle asks.
    Puzzle,
    /// An id that is not the SHA-1 of the key presented with it.
    IdMismatch,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentityError::BadKey => "not a usable Ed25519 public key",
            IdentityError::BadSignature => "signature does not verify",
            IdentityError::BadCertificate => "certificate not signed by the authority for this key",
            IdentityError::Expired => "certificate expired",
            IdentityError::NoCertificate => "no certificate presented",
            IdentityError::NoClock => "the node does not know the wall time",
            IdentityError::Puzzle => "id does not solve the admission puzzle",
            IdentityError::IdMismatch => "id is not the hash of the key",
        })
    }
}

impl core::error::Error for IdentityError {}
