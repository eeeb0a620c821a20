//! One value as the file keeps it: a format byte, the version (8 bytes,
//! big-endian), the flags, then the value's bytes. The format byte lets a
//! later release read this one's files, or refuse them by name.

use pastry_core::Id;
use pastry_core::dht::Meta;

const FORMAT: u8 = 1;
const HEADER: usize = 10;
const CONTENT: u8 = 1;
const DIVERTED: u8 = 2;
const SIGNED: u8 = 4;

/// The record of `value` with `meta`.
pub(crate) fn encode(meta: Meta, value: &[u8]) -> Vec<u8> {
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    let flags =
        flag(meta.content, CONTENT) | flag(meta.diverted, DIVERTED) | flag(meta.signed, SIGNED);
    let mut r = Vec::with_capacity(HEADER + value.len());
    r.push(FORMAT);
    r.extend_from_slice(&meta.version.to_be_bytes());
    r.push(flags);
    r.extend_from_slice(value);
    r
}

/// The meta and bytes of a record; `None` if it is not one of this
/// format (an unknown format or flag is refused, not guessed at).
pub(crate) fn decode(r: &[u8]) -> Option<(Meta, &[u8])> {
    let (head, value) = r.split_at_checked(HEADER)?;
    let version = u64::from_be_bytes(head[1..9].try_into().ok()?);
    let flags = head[9];
    if head[0] != FORMAT || flags & !(CONTENT | DIVERTED | SIGNED) != 0 {
        return None;
    }
    let meta = Meta {
        version,
        content: flags & CONTENT != 0,
        diverted: flags & DIVERTED != 0,
        signed: flags & SIGNED != 0,
    };
    Some((meta, value))
}

/// The id a table key names; `None` if it is not 20 bytes.
pub(crate) fn key(k: &[u8]) -> Option<Id> {
    Some(Id::from_bytes(k.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_meta_survives_the_round_trip_and_foreign_records_are_refused() {
        for bits in 0u8..8 {
            let meta = Meta {
                version: 0x0102_0304_0506_0708 ^ u64::from(bits),
                content: bits & 1 != 0,
                diverted: bits & 2 != 0,
                signed: bits & 4 != 0,
            };
            let r = encode(meta, b"value");
            assert_eq!(decode(&r), Some((meta, &b"value"[..])));
        }
        let good = encode(Meta::default(), b"");
        assert_eq!(decode(&good), Some((Meta::default(), &b""[..])));
        assert_eq!(decode(&good[..HEADER - 1]), None, "truncated");
        let mut other_format = good.clone();
        other_format[0] = 2;
        assert_eq!(decode(&other_format), None);
        let mut unknown_flag = good;
        unknown_flag[9] = 8;
        assert_eq!(decode(&unknown_flag), None);
        assert_eq!(key(&[0; 19]), None);
        assert_eq!(key(&[7; 20]), Some(Id::from_bytes([7; 20])));
    }
}
