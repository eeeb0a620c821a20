//! Who may be a member: any key (open), with an optional static puzzle
//! that makes choosing one's id cost work (S/Kademlia §4.1), or only keys
//! an authority certified (OSDI 2002 §4.1).

use super::IdentityError;
use super::certificate::{Certificate, UnixTime};
use super::keys::{Keypair, PublicKey};
use crate::id::Id;

/// The most puzzle bits a configuration may ask for: 2^24 key
/// generations is already hours of work for an honest node.
pub const MAX_PUZZLE_BITS: u8 = 24;

/// How a node decides whether a key may be a member.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Admission {
    /// Any key whose id has at least `puzzle_bits` leading zero bits in
    /// its SHA-1 (S/Kademlia's static puzzle; 0 admits every key).
    /// Placing an id next to a chosen key takes about 2^puzzle_bits key
    /// generations per try.
    Open {
        /// Leading zero bits the SHA-1 of the id must have.
        puzzle_bits: u8,
    },
    /// Only keys with an unexpired certificate signed by `authority`.
    Certified {
        /// The authority's public key.
        authority: PublicKey,
    },
}

impl Default for Admission {
    fn default() -> Admission {
        Admission::Open { puzzle_bits: 0 }
    }
}

impl Admission {
    /// Whether `key`, presenting `certificate`, may be a member at `now`
    /// (the wall time, if the node knows it).
    pub fn admits(
        &self,
        key: &PublicKey,
        certificate: Option<&Certificate>,
        now: Option<UnixTime>,
    ) -> Result<(), IdentityError> {
        match *self {
            Admission::Open { puzzle_bits: want } => {
                if puzzle_bits(key.id()) < u32::from(want) {
                    return Err(IdentityError::Puzzle);
                }
                Ok(())
            }
            Admission::Certified { authority } => {
                let cert = certificate.ok_or(IdentityError::NoCertificate)?;
                if cert.key != *key {
                    return Err(IdentityError::BadCertificate);
                }
                cert.verify(&authority, now.ok_or(IdentityError::NoClock)?)
            }
        }
    }
}

/// The leading zero bits of the SHA-1 of `id`: its static puzzle's
/// solution strength.
pub fn puzzle_bits(id: Id) -> u32 {
    let h = Id::sha1(&id.to_bytes()).to_bytes();
    let mut bits = 0;
    for b in h {
        bits += b.leading_zeros();
        if b != 0 {
            break;
        }
    }
    bits
}

impl Keypair {
    /// A fresh key pair whose id solves the static puzzle of `bits`
    /// (at most [`MAX_PUZZLE_BITS`]); about 2^bits tries.
    pub fn generate_with_puzzle(rng: &mut impl rand_core::CryptoRng, bits: u8) -> Keypair {
        let bits = u32::from(bits.min(MAX_PUZZLE_BITS));
        loop {
            let k = Keypair::generate(rng);
            if puzzle_bits(k.id()) >= bits {
                return k;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stand-in for the operating system's generator.
    struct Counter(u64);

    impl rand_core::TryRng for Counter {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            Ok(self.0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for c in dst.chunks_mut(8) {
                let v = self.try_next_u64()?.to_le_bytes();
                c.copy_from_slice(&v[..c.len()]);
            }
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for Counter {}

    #[test]
    fn a_puzzle_key_has_the_bits_and_the_open_mode_checks_them() {
        let mut rng = Counter(1);
        let k = Keypair::generate_with_puzzle(&mut rng, 8);
        assert!(puzzle_bits(k.id()) >= 8);
        let open8 = Admission::Open { puzzle_bits: 8 };
        assert_eq!(open8.admits(&k.public(), None, None), Ok(()));
        // Find a key that fails the puzzle (most do).
        let weak = (0..)
            .map(|_| Keypair::generate(&mut rng))
            .find(|k| puzzle_bits(k.id()) < 8)
            .unwrap();
        assert_eq!(
            open8.admits(&weak.public(), None, None),
            Err(IdentityError::Puzzle)
        );
        assert_eq!(
            Admission::default().admits(&weak.public(), None, None),
            Ok(())
        );
    }

    #[test]
    fn puzzle_bits_count_across_bytes() {
        // Brute force: count leading zero bits bit by bit.
        for n in 0..200u8 {
            let id = Id::from_bytes([n; 20]);
            let h = Id::sha1(&id.to_bytes()).to_bytes();
            let slow = (0..160)
                .take_while(|i| h[i / 8] >> (7 - i % 8) & 1 == 0)
                .count() as u32;
            assert_eq!(puzzle_bits(id), slow);
        }
    }

    #[test]
    fn the_certified_mode_wants_a_valid_certificate_for_the_same_key_and_a_clock() {
        let authority = Keypair::from_secret([1; 32]);
        let member = Keypair::from_secret([2; 32]).public();
        let stranger = Keypair::from_secret([3; 32]).public();
        let mode = Admission::Certified {
            authority: authority.public(),
        };
        let cert = Certificate::issue(&authority, member, UnixTime(100));
        let now = Some(UnixTime(50));
        assert_eq!(mode.admits(&member, Some(&cert), now), Ok(()));
        assert_eq!(
            mode.admits(&member, None, now),
            Err(IdentityError::NoCertificate)
        );
        assert_eq!(
            mode.admits(&stranger, Some(&cert), now),
            Err(IdentityError::BadCertificate)
        );
        assert_eq!(
            mode.admits(&member, Some(&cert), None),
            Err(IdentityError::NoClock)
        );
        assert_eq!(
            mode.admits(&member, Some(&cert), Some(UnixTime(100))),
            Err(IdentityError::Expired)
        );
        let forged = Certificate::issue(&Keypair::from_secret([9; 32]), member, UnixTime(100));
        assert_eq!(
            mode.admits(&member, Some(&forged), now),
            Err(IdentityError::BadCertificate)
        );
    }
}
