//! Scribe's own small messages (subscribes, heartbeats, acknowledgements)
//! when the node's queue has no room: they wait in a bounded queue, and a
//! full one lets a heartbeat go first.

use heapless::{Deque, Vec};

use super::msg::Msg;
use super::{CTL, CTL_BYTES, ScribeStats};
use crate::id::Id;
use crate::node::{CommandError, Kbr};
use crate::peer::Peer;
use crate::time::Instant;
use crate::wire::AppId;

/// A small message waiting for room in the node's queue.
#[derive(Clone, Debug)]
pub(super) struct Ctl {
    pub(super) to: Option<Peer>,
    pub(super) key: Id,
    pub(super) app: AppId,
    /// A heartbeat: the first to go from a full queue.
    pub(super) beat: bool,
    pub(super) bytes: Vec<u8, CTL_BYTES>,
}

/// Like [`send`] for the protocol's own small messages: if the node's
/// queue is full (or others wait already), the message waits in `ctl`
/// (bounded) for [`Scribe::flush_ctl`](super::Scribe::flush_ctl). From a full `ctl` the oldest
/// heartbeat goes first (the next follows within half a period, while a
/// lost subscribe or acknowledgement waits a whole retry), then the
/// oldest message.
#[allow(clippy::too_many_arguments)]
pub(super) fn send_ctl(
    ctl: &mut Deque<Ctl, CTL>,
    node: &mut impl Kbr,
    now: Instant,
    to: Option<Peer>,
    key: Id,
    app: AppId,
    msg: &Msg<'_>,
    stats: &mut ScribeStats,
) -> Result<(), CommandError> {
    if ctl.is_empty() && node.route_room() > 0 {
        return send(node, now, to, key, app, msg, stats);
    }
    let mut bytes = Vec::new();
    let _ = bytes.resize(CTL_BYTES, 0);
    let Some(len) = msg.encode(&mut bytes) else {
        // Too big to keep (an anycast step): try now, or lose it.
        return send(node, now, to, key, app, msg, stats);
    };
    bytes.truncate(len);
    let beat = matches!(msg, Msg::Beat { .. });
    if ctl.is_full() {
        stats.dropped += 1;
        match ctl.iter().position(|c| c.beat) {
            Some(at) => {
                let mut i = 0;
                ctl.retain(|_| {
                    i += 1;
                    i - 1 != at
                });
            }
            None if beat => return Ok(()),
            None => {
                ctl.pop_front();
            }
        }
    }
    let _ = ctl.push_back(Ctl {
        to,
        key,
        app,
        beat,
        bytes,
    });
    Ok(())
}

/// Encodes `msg` and routes it to `key` (first hop `to`, if given).
pub(super) fn send(
    node: &mut impl Kbr,
    now: Instant,
    to: Option<Peer>,
    key: Id,
    app: AppId,
    msg: &Msg<'_>,
    stats: &mut ScribeStats,
) -> Result<(), CommandError> {
    match node.route_encoded(now, key, app, to, |b| msg.encode(b)) {
        Ok(len) => {
            stats.sent += 1;
            stats.sent_bytes += len as u64;
            Ok(())
        }
        Err(e) => {
            stats.dropped += 1;
            Err(e)
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::vec::Vec as StdVec;

    use super::*;
    use crate::leaf_set::NodeSet;
    use crate::node::AppPolicy;
    use crate::node::MAX_PAYLOAD;
    use crate::routing::KeyRange;
    use crate::scribe::msg::BEAT_ENTRY;

    /// A node whose queue has `room` slots; it records what it routes.
    pub(in crate::scribe) struct Queue {
        pub(in crate::scribe) room: usize,
        pub(in crate::scribe) routed: StdVec<StdVec<u8>>,
    }

    impl Kbr for Queue {
        fn own(&self) -> Peer {
            peer(0)
        }
        fn is_active(&self) -> bool {
            true
        }
        fn max_payload(&self) -> usize {
            MAX_PAYLOAD
        }
        fn route(
            &mut self,
            _: Instant,
            _: Id,
            _: AppId,
            payload: &[u8],
            _: Option<Peer>,
        ) -> Result<u64, CommandError> {
            assert!(self.room > 0, "routed with no room");
            self.room -= 1;
            self.routed.push(payload.to_vec());
            Ok(self.routed.len() as u64)
        }
        fn route_room(&self) -> usize {
            self.room
        }
        fn local_lookup(&self, _: Id, _: usize) -> NodeSet {
            NodeSet::new()
        }
        fn replica_set(&self, _: Id, _: usize) -> NodeSet {
            NodeSet::new()
        }
        fn range(&self, _: Id, _: usize) -> Option<KeyRange> {
            None
        }
        fn neighbor_set(&self, _: usize) -> NodeSet {
            NodeSet::new()
        }
        fn covers(&self, _: Id) -> bool {
            false
        }
        fn set_policy(&mut self, _: AppId, _: AppPolicy) -> Result<(), CommandError> {
            Ok(())
        }
        #[cfg(feature = "secure-routing")]
        fn secure_route(
            &mut self,
            now: Instant,
            key: Id,
            app: AppId,
            payload: &[u8],
            _: usize,
        ) -> Result<u64, CommandError> {
            self.route(now, key, app, payload, None)
        }
    }

    pub(in crate::scribe) fn peer(i: u8) -> Peer {
        Peer {
            id: Id::from_bytes([i; 20]),
            addr: core::net::SocketAddr::from(([10, 0, 0, i], 1)),
        }
    }

    fn subscribe(i: u8) -> Msg<'static> {
        Msg::Subscribe {
            group: Id::from_bytes([i; 20]),
            flags: 0,
            child: peer(i),
            lost: None,
            missed: None,
        }
    }

    /// The model: what survives of `sent` (true = a heartbeat) in a queue
    /// of `CTL`, heartbeats dropped first, oldest first.
    fn survivors(sent: &[bool]) -> StdVec<usize> {
        let mut q: StdVec<usize> = StdVec::new();
        for (i, &beat) in sent.iter().enumerate() {
            if q.len() == CTL {
                match q.iter().position(|&j| sent[j]) {
                    Some(at) => {
                        q.remove(at);
                    }
                    None if beat => continue,
                    None => {
                        q.remove(0);
                    }
                }
            }
            q.push(i);
        }
        q
    }

    #[test]
    fn a_full_queue_sheds_heartbeats_before_subscribes() {
        let entry = [0u8; BEAT_ENTRY];
        // Mixes of heartbeats and subscribes, from a fixed generator.
        let mut x = 0x9e37_79b9_u32;
        for round in 0..200 {
            let n = CTL + (round % 40);
            let sent: StdVec<bool> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x.is_multiple_of((2 + round % 3) as u32)
                })
                .collect();
            let mut node = Queue {
                room: 0,
                routed: StdVec::new(),
            };
            let mut ctl: Deque<Ctl, CTL> = Deque::new();
            let mut stats = ScribeStats::default();
            for (i, &beat) in sent.iter().enumerate() {
                let m = if beat {
                    Msg::Beat { entries: &entry }
                } else {
                    subscribe(i as u8)
                };
                send_ctl(
                    &mut ctl,
                    &mut node,
                    Instant::ZERO,
                    None,
                    Id::ZERO,
                    AppId(1),
                    &m,
                    &mut stats,
                )
                .unwrap();
            }
            let want = survivors(&sent);
            assert_eq!(stats.dropped as usize, n - want.len(), "round {round}");
            let encoded = |i: usize| {
                let m = if sent[i] {
                    Msg::Beat { entries: &entry }
                } else {
                    subscribe(i as u8)
                };
                let mut buf = [0u8; CTL_BYTES];
                let len = m.encode(&mut buf).unwrap();
                buf[..len].to_vec()
            };
            let want: StdVec<StdVec<u8>> = want.into_iter().map(encoded).collect();
            let got: StdVec<StdVec<u8>> = ctl.iter().map(|c| c.bytes.to_vec()).collect();
            assert_eq!(got, want, "round {round}");
        }
    }
}
