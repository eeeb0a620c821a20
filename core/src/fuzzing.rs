//! Properties of the applications' payload codecs, for fuzz targets
//! (feature `fuzzing`). The replication and multicast messages are private
//! to their modules; these checks reach them without making them public.
//! Each panics when the property fails, which is what a fuzzer looks for.

use crate::{dht, scribe};

/// Largest payload the checks re-encode; a decoded message is never
/// longer than its input, which a datagram bounds.
const MAX: usize = 64 * 1024;

/// Any bytes as a DHT payload: decoding never panics, and whatever decodes
/// re-encodes to exactly the input (the encoding is canonical).
pub fn dht_payload(bytes: &[u8]) {
    canonical(
        "DHT",
        bytes,
        |b| dht::msg::Msg::decode(b, crate::Instant::ZERO).ok(),
        |m, buf| m.encode(buf, crate::Instant::ZERO),
    );
}

/// Any bytes as a Scribe payload: the same properties as [`dht_payload`].
pub fn scribe_payload(bytes: &[u8]) {
    canonical(
        "Scribe",
        bytes,
        |b| scribe::msg::Msg::decode(b).ok(),
        |m, buf| m.encode(buf),
    );
}

/// A DHT replica copy of `value` under `key` at `version`, as replica
/// maintenance sends it (no operation, no client, no flags), encoded into
/// `buf` by the DHT's own codec; its length, or `None` if it does not fit.
/// For tests and attack simulations that forge one.
pub fn dht_replica_copy(
    key: crate::Id,
    version: u64,
    value: &[u8],
    buf: &mut [u8],
) -> Option<usize> {
    let meta = dht::Meta {
        version,
        ..dht::Meta::default()
    };
    dht::msg::Msg::Store {
        op: 0,
        key,
        meta,
        cache: false,
        client: None,
        value,
    }
    .encode(buf, crate::Instant::ZERO)
}

/// The property both payload codecs share.
fn canonical<'a, M: core::fmt::Debug>(
    what: &str,
    bytes: &'a [u8],
    decode: impl FnOnce(&'a [u8]) -> Option<M>,
    encode: impl FnOnce(&M, &mut [u8]) -> Option<usize>,
) {
    if bytes.len() > MAX {
        return;
    }
    let Some(m) = decode(bytes) else { return };
    let mut buf = [0u8; MAX];
    let n = encode(&m, &mut buf)
        .unwrap_or_else(|| panic!("a decoded {what} message does not re-encode: {m:?}"));
    assert_eq!(
        &buf[..n],
        bytes,
        "{what} decode then encode changed the bytes: {m:?}"
    );
}
