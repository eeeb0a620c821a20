//! End-to-end authentication of a routed message's source (#28; the
//! "signatures where a message must convince a third party" of Castro et
//! al., OSDI 2002 §5). Sessions prove each hop's sender; a root several
//! hops from the source would have only the last relay's word for who
//! sent it. So a node that verifies its peers signs what it sends
//! through a relay: its public key and an Ed25519 signature over the
//! fields no relay changes (application, key, message id, source id and
//! address, payload). A message sent straight to its
//! destination (`send_to`) needs none: the session already proves it.
//! Neither does a per-hop application's: the nodes on its path may
//! rewrite it, so a signature would not survive the first of them.
//!
//! The receiver checks lazily ([`super::Delivery::verify_source`]): a
//! signature costs tens of microseconds, and only an application that
//! acts on who sent a message needs to pay for it.

use super::pool::{MAX_PAYLOAD, Signed};
use crate::id::Id;
use crate::identity::{Keypair, PUBLIC_KEY_BYTES, PublicKey, Signature};
use crate::peer::Peer;
use crate::wire::AppId;
use crate::wire::cursor::Writer;

/// Domain separation from every other signature a node's key makes.
const DOMAIN: &[u8] = b"pastry/routed-source/v1";

/// The longest signed text: domain, the fixed fields, an IPv6 source and
/// the largest payload.
const SIGNED_MAX: usize = DOMAIN.len() + 2 + 20 + 8 + 20 + 19 + MAX_PAYLOAD;

/// What a routed message's fields are signed as.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Signable<'a> {
    pub(crate) app: AppId,
    pub(crate) key: Id,
    pub(crate) msg_id: u64,
    pub(crate) source: Peer,
    pub(crate) payload: &'a [u8],
}

impl Signable<'_> {
    fn write<'b>(&self, buf: &'b mut [u8; SIGNED_MAX]) -> Option<&'b [u8]> {
        let mut w = Writer::new(buf);
        w.bytes(DOMAIN);
        w.u16(self.app.0);
        w.id(self.key);
        w.u64(self.msg_id);
        w.peer(&self.source);
        w.bytes(self.payload);
        let len = w.finish()?;
        Some(&buf[..len])
    }

    /// The source's key and signature over these fields.
    pub(crate) fn sign(&self, keys: &Keypair) -> Option<Signed> {
        let mut buf = [0u8; SIGNED_MAX];
        let sig = keys.sign(self.write(&mut buf)?);
        let mut out = [0u8; 96];
        out[..PUBLIC_KEY_BYTES].copy_from_slice(&keys.public().to_bytes());
        out[PUBLIC_KEY_BYTES..].copy_from_slice(&sig.0);
        Some(out)
    }

    /// Whether `signed` is the source's key (its id is the key's hash)
    /// and its signature over these fields.
    pub(crate) fn verify(&self, signed: &Signed) -> bool {
        let (key, sig) = signed.split_at(PUBLIC_KEY_BYTES);
        let Ok(key) = <[u8; PUBLIC_KEY_BYTES]>::try_from(key) else {
            return false;
        };
        let Ok(sig) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        let key = PublicKey::from_bytes_unchecked(key);
        if key.id() != self.source.id {
            return false;
        }
        let mut buf = [0u8; SIGNED_MAX];
        self.write(&mut buf)
            .is_some_and(|msg| key.verify(msg, &Signature(sig)).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_field_no_relay_changes() {
        let keys = Keypair::from_secret([3; 32]);
        let source = Peer::new(keys.id(), "192.0.2.1:4000".parse().unwrap());
        let m = Signable {
            app: AppId(7),
            key: Id::sha1(b"k"),
            msg_id: 42,
            source,
            payload: b"hello",
        };
        let signed = m.sign(&keys).unwrap();
        assert!(m.verify(&signed));
        let other = Peer::new(Id::sha1(b"x"), source.addr);
        let moved = Peer::new(keys.id(), "192.0.2.9:4000".parse().unwrap());
        for changed in [
            Signable { app: AppId(8), ..m },
            Signable {
                key: Id::sha1(b"j"),
                ..m
            },
            Signable { msg_id: 43, ..m },
            Signable { source: other, ..m },
            Signable { source: moved, ..m },
            Signable {
                payload: b"hellO",
                ..m
            },
        ] {
            assert!(!changed.verify(&signed), "{changed:?}");
        }
        for i in 0..signed.len() {
            let mut bad = signed;
            bad[i] ^= 1;
            assert!(!m.verify(&bad), "byte {i}");
        }
        // Another key signing in the source's name: its id is not the source's.
        let mallory = Keypair::from_secret([4; 32]);
        assert!(!m.verify(&m.sign(&mallory).unwrap()));
    }
}
