//! A faulty replica root (the `adversary` feature; OSDI'02 §2): it stores
//! what it is given like any replica, so it looks correct, but answers
//! every get it takes, as root or on a lookup's path, with nothing or with
//! a value of its own.

use super::msg::Msg;
use super::send::encode_and_route;
use super::{APP, Dht, Meta, Store};
use crate::id::Id;
use crate::node::Kbr;
use crate::peer::Peer;
use crate::time::Instant;

/// How a faulty root answers a get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeRoot {
    /// "Not found", whatever it holds.
    Missing,
    /// [`FORGED_VALUE`] at a version higher than any honest one, plain
    /// (it proves nothing: content-hash and signed gets refuse it).
    Wrong,
}

/// The value a faulty root answers with.
pub const FORGED_VALUE: &[u8] = b"no client stored this value";

/// The version it claims.
pub const FORGED_VERSION: u64 = u64::MAX / 2;

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// Makes this DHT answer gets as a faulty root does.
    pub fn make_faulty(&mut self, answer: FakeRoot) {
        self.faulty = Some(answer);
    }

    /// Answers `client`'s get `op` for `key` falsely, if this DHT is
    /// faulty; whether it did.
    pub(super) fn fake_answer(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        client: Peer,
        op: u64,
        key: Id,
    ) -> bool {
        match self.faulty {
            None => false,
            Some(FakeRoot::Missing) => {
                self.not_found(now, node, client, (op, key));
                true
            }
            Some(FakeRoot::Wrong) => {
                let meta = Meta {
                    version: FORGED_VERSION,
                    ..Meta::default()
                };
                let msg = Msg::Value {
                    op,
                    key,
                    meta,
                    cached: false,
                    value: FORGED_VALUE,
                };
                // With no room the forgery is lost, as a datagram may be.
                let _ = encode_and_route(
                    node,
                    now,
                    Some(client),
                    client.id,
                    APP,
                    &msg,
                    &mut self.stats,
                );
                true
            }
        }
    }
}
