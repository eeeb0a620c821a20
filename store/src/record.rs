//! One value as the file keeps it: a format byte, the version (8 bytes,
//! big-endian), the flags, the expiry if it has one (milliseconds since
//! the Unix epoch, 8 bytes: the node's clock starts afresh at each run,
//! the wall clock does not), then the value's bytes. The format byte lets
//! a later release read this one's files, or refuse them by name; format 1
//! (before expiry and deletion) is still read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pastry_core::dht::Meta;
use pastry_core::{Id, Instant};

const FORMAT: u8 = 2;
const HEADER: usize = 10;
const CONTENT: u8 = 1;
const DIVERTED: u8 = 2;
const SIGNED: u8 = 4;
const DELETED: u8 = 8;
const EXPIRES: u8 = 16;

/// Where the node's clock stands against the wall clock: the wall-clock
/// time of its [`Instant::ZERO`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock(pub(crate) SystemTime);

impl Clock {
    fn to_unix_ms(self, t: Instant) -> u64 {
        let wall = self.0 + Duration::from_micros(t.as_micros());
        let since = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        // Rounded up: never expire early.
        since
            .as_micros()
            .div_ceil(1000)
            .try_into()
            .unwrap_or(u64::MAX)
    }

    fn instant_of_unix_ms(self, ms: u64) -> Instant {
        let wall = UNIX_EPOCH + Duration::from_millis(ms);
        // Already past when the node started: expired at once.
        let since = wall.duration_since(self.0).unwrap_or_default();
        Instant::from_micros(since.as_micros().try_into().unwrap_or(u64::MAX))
    }
}

/// The record of `value` with `meta`.
pub(crate) fn encode(meta: Meta, value: &[u8], clock: Clock) -> Vec<u8> {
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    let flags = flag(meta.content, CONTENT)
        | flag(meta.diverted, DIVERTED)
        | flag(meta.signed, SIGNED)
        | flag(meta.deleted, DELETED)
        | flag(meta.expires.is_some(), EXPIRES);
    let mut r = Vec::with_capacity(HEADER + 8 + value.len());
    r.push(FORMAT);
    r.extend_from_slice(&meta.version.to_be_bytes());
    r.push(flags);
    if let Some(t) = meta.expires {
        r.extend_from_slice(&clock.to_unix_ms(t).to_be_bytes());
    }
    r.extend_from_slice(value);
    r
}

/// The meta and bytes of a record; `None` if it is not one of these
/// formats (an unknown format or flag is refused, not guessed at).
pub(crate) fn decode(r: &[u8], clock: Clock) -> Option<(Meta, &[u8])> {
    let (head, mut value) = r.split_at_checked(HEADER)?;
    let version = u64::from_be_bytes(head[1..9].try_into().ok()?);
    let flags = head[9];
    let known = match head[0] {
        1 => CONTENT | DIVERTED | SIGNED,
        FORMAT => CONTENT | DIVERTED | SIGNED | DELETED | EXPIRES,
        _ => return None,
    };
    if flags & !known != 0 {
        return None;
    }
    let mut expires = None;
    if flags & EXPIRES != 0 {
        let (ms, rest) = value.split_first_chunk::<8>()?;
        expires = Some(clock.instant_of_unix_ms(u64::from_be_bytes(*ms)));
        value = rest;
    }
    let meta = Meta {
        version,
        content: flags & CONTENT != 0,
        diverted: flags & DIVERTED != 0,
        signed: flags & SIGNED != 0,
        deleted: flags & DELETED != 0,
        expires,
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
        let clock = Clock(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        for bits in 0u8..32 {
            let meta = Meta {
                version: 0x0102_0304_0506_0708 ^ u64::from(bits),
                content: bits & 1 != 0,
                diverted: bits & 2 != 0,
                signed: bits & 4 != 0,
                deleted: bits & 8 != 0,
                expires: (bits & 16 != 0).then_some(Instant::from_millis(90_500)),
            };
            let r = encode(meta, b"value", clock);
            assert_eq!(decode(&r, clock), Some((meta, &b"value"[..])));
        }
        let good = encode(Meta::default(), b"", clock);
        assert_eq!(decode(&good, clock), Some((Meta::default(), &b""[..])));
        assert_eq!(decode(&good[..HEADER - 1], clock), None, "truncated");
        let mut other_format = good.clone();
        other_format[0] = 3;
        assert_eq!(decode(&other_format, clock), None);
        let mut unknown_flag = good.clone();
        unknown_flag[9] = 32;
        assert_eq!(decode(&unknown_flag, clock), None);
        // Format 1 knew no expiry nor deletion.
        let mut old = good;
        old[0] = 1;
        assert_eq!(decode(&old, clock), Some((Meta::default(), &b""[..])));
        old[9] = DELETED;
        assert_eq!(decode(&old, clock), None);
        assert_eq!(key(&[0; 19]), None);
        assert_eq!(key(&[7; 20]), Some(Id::from_bytes([7; 20])));
    }

    #[test]
    fn an_expiry_is_kept_in_wall_time_across_runs() {
        let first = Clock(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let meta = Meta {
            expires: Some(Instant::from_secs(100)),
            ..Meta::default()
        };
        let r = encode(meta, b"v", first);
        // Restarted 30 s later: 70 s are left on the new clock.
        let second = Clock(first.0 + Duration::from_secs(30));
        let (m, _) = decode(&r, second).unwrap();
        assert_eq!(m.expires, Some(Instant::from_secs(70)));
        // Restarted after it expired: due at once.
        let late = Clock(first.0 + Duration::from_secs(500));
        assert_eq!(decode(&r, late).unwrap().0.expires, Some(Instant::ZERO));
    }
}
