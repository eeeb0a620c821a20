//! Fuzz harnesses. Each `fuzz/fuzz_targets/<name>.rs` is a one-line call to
//! the function of the same name here, so the same code also runs on stable
//! as an ordinary test that replays the committed corpus.

use pastry_core::wire::Message;

/// Any bytes: decoding never panics, and whatever decodes re-encodes to
/// exactly the input (the encoding is canonical) and decodes to the same
/// message again.
pub fn wire_decode(data: &[u8]) {
    let Ok(msg) = Message::decode(data) else {
        return;
    };
    let mut buf = vec![0u8; msg.encoded_len()];
    let n = msg
        .encode(&mut buf)
        .expect("a decoded message must re-encode");
    assert_eq!(&buf[..n], data, "decode then encode changed the bytes");
    assert_eq!(Message::decode(&buf[..n]), Ok(msg));
}
