//! 160-bit identifiers on Pastry's circular id space (Pastry'01 §2).
//!
//! An [`Id`] names a node or a key. Ids are read as base-2^b digits, most
//! significant first, with b = [`DIGIT_BITS`] = 4. The space wraps: the
//! successor of `ff…ff` is `00…00`. Closeness between ids is ring distance,
//! the shorter of the clockwise and counter-clockwise ways round.

use core::cmp::Ordering;
use core::fmt;
use core::str::FromStr;

use sha1::{Digest, Sha1};

/// Bytes in an id: the width of a SHA-1 digest.
pub const ID_BYTES: usize = 20;
/// Bits per digit: Pastry's `b`.
pub const DIGIT_BITS: usize = 4;
/// Values a digit can take: 2^b.
pub const BASE: usize = 1 << DIGIT_BITS;
/// Digits in an id: 160 / b.
pub const DIGITS: usize = ID_BYTES * 8 / DIGIT_BITS;

const LIMBS: usize = 5;

/// An unsigned 160-bit number, five 32-bit limbs, most significant first, so
/// the derived `Ord` is numeric order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
struct U160([u32; LIMBS]);

impl U160 {
    // Each limb in 64-bit arithmetic: the borrow (carry) is bit 32 of the
    // result, one shift instead of two flag tests per limb (ring distances
    // are most of a leaf-set scan).
    fn wrapping_sub(self, rhs: U160) -> U160 {
        let mut out = [0u32; LIMBS];
        let mut borrow = 0u64;
        for i in (0..LIMBS).rev() {
            let d = u64::from(self.0[i])
                .wrapping_sub(u64::from(rhs.0[i]))
                .wrapping_sub(borrow);
            out[i] = d as u32;
            borrow = (d >> 32) & 1;
        }
        U160(out)
    }

    fn wrapping_add(self, rhs: U160) -> U160 {
        let mut out = [0u32; LIMBS];
        let mut carry = 0u64;
        for i in (0..LIMBS).rev() {
            let s = u64::from(self.0[i]) + u64::from(rhs.0[i]) + carry;
            out[i] = s as u32;
            carry = s >> 32;
        }
        U160(out)
    }

    /// `ceil(self / 2)`, which cannot overflow.
    fn half_up(self) -> U160 {
        let odd = self.0[LIMBS - 1] & 1;
        let mut out = [0u32; LIMBS];
        let mut high_bit = 0u32;
        for (o, &limb) in out.iter_mut().zip(self.0.iter()) {
            *o = (limb >> 1) | (high_bit << 31);
            high_bit = limb & 1;
        }
        let mut one = [0u32; LIMBS];
        one[LIMBS - 1] = odd;
        U160(out).wrapping_add(U160(one))
    }
}

/// A 160-bit identifier of a node or a key.
///
/// `Ord` is numeric order on the unsigned 160-bit value (useful for sorting
/// rings); closeness on the ring is [`Id::ring_distance`] and
/// [`Id::cmp_closeness`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Id(U160);

/// An id's closeness to a key: its ring distance, then whether it lies
/// counter-clockwise of the key (which loses a tie). Smaller is closer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Closeness(Distance, bool);

/// A distance between two ids along the ring: an unsigned 160-bit number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Distance(U160);

impl Distance {
    /// The zero distance.
    pub const ZERO: Distance = Distance(U160([0; LIMBS]));
    /// Half the ring, 2^159: no ring distance is larger.
    pub const HALF_RING: Distance = Distance(U160([1 << 31, 0, 0, 0, 0]));
    /// The distance one.
    pub const ONE: Distance = Distance(U160([0, 0, 0, 0, 1]));

    /// `self + other (mod 2^160)`.
    pub(crate) fn wrapping_add(self, other: Distance) -> Distance {
        Distance(self.0.wrapping_add(other.0))
    }

    /// The distance as 20 big-endian bytes.
    pub fn to_bytes(self) -> [u8; ID_BYTES] {
        Id(self.0).to_bytes()
    }

    /// The distance's top 96 bits (it divided by 2^64): room to multiply
    /// by small counts in a `u128`, and still exact to one part in 2^30
    /// for the spans of a billion-node ring's leaf sets.
    pub(crate) fn high_96(self) -> u128 {
        let l = self.0.0;
        (u128::from(l[0]) << 64) | (u128::from(l[1]) << 32) | u128::from(l[2])
    }

    /// The distance's top 64 bits: enough to rank random ids (two that
    /// share them are 2^96 apart at most).
    pub(crate) fn high_64(self) -> u64 {
        let l = self.0.0;
        (u64::from(l[0]) << 32) | u64::from(l[1])
    }
}

impl fmt::Debug for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Distance({})", Id(self.0))
    }
}

impl Id {
    /// The id `00…00`.
    pub const ZERO: Id = Id(U160([0; LIMBS]));
    /// The id `ff…ff`.
    pub const MAX: Id = Id(U160([u32::MAX; LIMBS]));

    /// An id from 20 big-endian bytes.
    pub const fn from_bytes(bytes: [u8; ID_BYTES]) -> Id {
        let mut limbs = [0u32; LIMBS];
        let mut i = 0;
        while i < LIMBS {
            limbs[i] = u32::from_be_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ]);
            i += 1;
        }
        Id(U160(limbs))
    }

    /// The id's first 64 bits: a compact key for tables of ids (two
    /// random ids share them with odds of 2^-64).
    pub(crate) fn high_64(self) -> u64 {
        let l = self.0.0;
        (u64::from(l[0]) << 32) | u64::from(l[1])
    }

    /// The id as 20 big-endian bytes (its wire form).
    pub fn to_bytes(self) -> [u8; ID_BYTES] {
        let mut out = [0u8; ID_BYTES];
        for (chunk, limb) in out.chunks_exact_mut(4).zip(self.0.0.iter()) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    /// The SHA-1 of `data` as an id: the key of a name, or the
    /// self-authenticating key of a piece of content.
    pub fn sha1(data: &[u8]) -> Id {
        let digest = Sha1::digest(data);
        let mut bytes = [0u8; ID_BYTES];
        bytes.copy_from_slice(&digest);
        Id::from_bytes(bytes)
    }

    /// Digit `i` (0 is the most significant), in `0..BASE`.
    ///
    /// # Panics
    /// If `i >= DIGITS`: asking for a digit past the id is a caller bug.
    pub fn digit(self, i: usize) -> u8 {
        assert!(i < DIGITS, "digit index {i} out of range");
        let limb = self.0.0[i / 8];
        let shift = 28 - 4 * (i % 8);
        ((limb >> shift) & 0xf) as u8
    }

    /// The id `d` clockwise of this one (wrapping round the ring).
    pub fn offset(self, d: Distance) -> Id {
        Id(self.0.wrapping_add(d.0))
    }

    /// This id with digit `i` set to `d` (the low four bits of `d`).
    ///
    /// # Panics
    /// If `i >= DIGITS`, as [`Id::digit`].
    pub fn with_digit(self, i: usize, d: u8) -> Id {
        assert!(i < DIGITS, "digit index {i} out of range");
        let mut limbs = self.0.0;
        let shift = 28 - 4 * (i % 8);
        limbs[i / 8] = (limbs[i / 8] & !(0xf << shift)) | (u32::from(d & 0xf) << shift);
        Id(U160(limbs))
    }

    /// The number of leading digits `self` and `other` share, in `0..=DIGITS`.
    pub fn shared_prefix_len(self, other: Id) -> usize {
        for (i, (a, b)) in self.0.0.iter().zip(other.0.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                return i * 8 + (x.leading_zeros() as usize) / DIGIT_BITS;
            }
        }
        DIGITS
    }

    /// How far `to` lies clockwise (increasing ids) from `self`:
    /// `(to - self) mod 2^160`.
    pub fn cw_distance(self, to: Id) -> Distance {
        Distance(to.0.wrapping_sub(self.0))
    }

    /// How far `to` lies counter-clockwise from `self`: `(self - to) mod 2^160`.
    pub fn ccw_distance(self, to: Id) -> Distance {
        Distance(self.0.wrapping_sub(to.0))
    }

    /// The ring distance: the shorter way round, at most 2^159.
    pub fn ring_distance(self, other: Id) -> Distance {
        self.cw_distance(other).min(self.ccw_distance(other))
    }

    /// `self + d (mod 2^160)`.
    pub fn wrapping_add(self, d: Distance) -> Id {
        Id(self.0.wrapping_add(d.0))
    }

    /// `self - d (mod 2^160)`.
    pub fn wrapping_sub(self, d: Distance) -> Id {
        Id(self.0.wrapping_sub(d.0))
    }

    /// Which of `a` and `b` is numerically closer to `self` (the key):
    /// `Less` means `a` is closer.
    ///
    /// The order is total. When `a` and `b` are different ids at the same ring
    /// distance they sit on opposite sides of the key; the one **clockwise**
    /// of the key (its successor side) wins the tie. Every part of the
    /// workspace (leaf set, next hop, replica set, the simulator's oracle)
    /// uses this one rule, so all agree on a key's root.
    pub fn cmp_closeness(self, a: Id, b: Id) -> Ordering {
        self.closeness(a).cmp(&self.closeness(b))
    }

    /// How close `a` is to `self` (the key), as a value ordered like
    /// [`Id::cmp_closeness`]: a scan for the closest of many computes each
    /// candidate's once instead of twice per comparison.
    pub(crate) fn closeness(self, a: Id) -> Closeness {
        let cw = self.cw_distance(a);
        // The clockwise way is the shorter (or, at 2^159, as short) unless
        // it is past half the ring; different ids at one distance sit on
        // opposite sides of the key and the clockwise one wins the tie.
        if cw <= Distance::HALF_RING {
            Closeness(cw, false)
        } else {
            Closeness(self.ccw_distance(a), true)
        }
    }

    /// The first id of the clockwise arc from `a` to `b` owned by `b` when
    /// `a` and `b` are adjacent: `a + ceil(cw(a, b) / 2)`. With the tie rule
    /// of [`Id::cmp_closeness`] every key in `[boundary(a, b), b]` is closer
    /// to `b` and every key in `[a, boundary(a, b))` is closer to `a`.
    pub fn boundary(a: Id, b: Id) -> Id {
        a.wrapping_add(Distance(a.cw_distance(b).0.half_up()))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for limb in self.0.0 {
            write!(f, "{limb:08x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

/// The error from parsing an [`Id`] from text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdParseError {
    /// The text is not exactly 40 characters long.
    Length(usize),
    /// A character is not a hexadecimal digit.
    NotHex,
}

impl fmt::Display for IdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdParseError::Length(n) => write!(f, "an id is 40 hex digits, got {n} characters"),
            IdParseError::NotHex => {
                f.write_str("an id is 40 hex digits, found a non-hex character")
            }
        }
    }
}

impl core::error::Error for IdParseError {}

impl FromStr for Id {
    type Err = IdParseError;

    /// Parses 40 hexadecimal digits (either case), the form `Display` prints.
    fn from_str(s: &str) -> Result<Id, IdParseError> {
        if s.len() != DIGITS {
            return Err(IdParseError::Length(s.len()));
        }
        let mut bytes = [0u8; ID_BYTES];
        for (byte, pair) in bytes.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let hi = hex_value(pair[0]).ok_or(IdParseError::NotHex)?;
            let lo = hex_value(pair[1]).ok_or(IdParseError::NotHex)?;
            *byte = (hi << 4) | lo;
        }
        Ok(Id::from_bytes(bytes))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Id {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Id> {
        Ok(Id::from_bytes(u.arbitrary()?))
    }
}
