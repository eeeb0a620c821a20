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
    if bytes.len() > MAX {
        return;
    }
    if let Ok(m) = dht::msg::Msg::decode(bytes) {
        let mut buf = [0u8; MAX];
        let n = m
            .encode(&mut buf)
            .expect("a decoded DHT message re-encodes");
        assert_eq!(
            &buf[..n],
            bytes,
            "DHT decode then encode changed the bytes: {m:?}"
        );
    }
}

/// Any bytes as a Scribe payload: the same properties as [`dht_payload`].
pub fn scribe_payload(bytes: &[u8]) {
    if bytes.len() > MAX {
        return;
    }
    if let Ok(m) = scribe::msg::Msg::decode(bytes) {
        let mut buf = [0u8; MAX];
        let n = m
            .encode(&mut buf)
            .expect("a decoded Scribe message re-encodes");
        assert_eq!(
            &buf[..n],
            bytes,
            "Scribe decode then encode changed the bytes: {m:?}"
        );
    }
}
