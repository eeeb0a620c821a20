//! Delivery records handed to a node that joins beside a root (#32:
//! nothing delivered twice).
//!
//! A root remembers which messages it delivered (`SeenCache`), so a copy
//! that comes again is answered with a receipt, not delivered. But a copy
//! sent again after a lost receipt, or forked by a lost per-hop ack, may
//! arrive after a node has joined closer to the key: the key's new root
//! never saw the first copy and delivered it again (traced at 1,000
//! nodes, 10-minute sessions: every second delivery was at such a node).
//! The node that was the key's root is one of the joiner's two immediate
//! neighbours, and the joiner probes it for its leaf set before it goes
//! active; so the answer carries the records of what the neighbour
//! delivered lately for keys now closer to the joiner, and the joiner
//! counts those as delivered. The joiner keeps them among its own, so
//! they move on with the key when another node joins closer still.
//!
//! A record only ever stops a delivery, and only at a joiner, from a
//! neighbour it asked, for keys the sender was root of. A faulty
//! neighbour could name a message it relays, so the joiner answers it
//! and never delivers it; it could as well drop what it relays. Like
//! receipts, the records are for crashes, not for lies (secure routing,
//! `secure_route`, is).

use heapless::Vec;

use crate::id::Id;
use crate::wire::HandoverRecord;

/// Records a node keeps: its last deliveries that asked for receipts,
/// and those handed to it. Under light load these span the sources'
/// whole resend window (75 s by default); a node delivering many
/// messages a second keeps fewer seconds of them. They carry no time: an
/// older one costs a joiner 24 bytes, and names a message nobody sends
/// again.
pub(crate) const KEPT: usize = 8;

#[derive(Clone, Debug)]
pub(crate) struct Records {
    ring: Vec<HandoverRecord, KEPT>,
    next: usize,
}

/// Whether `a` is closer to `key` than `b` on the ring (first 64 bits).
fn closer(key: u64, a: u64, b: u64) -> bool {
    let d = |x: u64| x.wrapping_sub(key).min(key.wrapping_sub(x));
    d(a) < d(b)
}

impl Records {
    pub(crate) fn new() -> Records {
        Records {
            ring: Vec::new(),
            next: 0,
        }
    }

    /// Remembers `rec` unless it is on record.
    pub(crate) fn note(&mut self, rec: HandoverRecord) {
        if !self.holds_record(rec.source, rec.msg_id) {
            self.push(rec);
        }
    }

    /// Remembers `rec`, which is not on record, replacing the oldest
    /// when full.
    pub(crate) fn push(&mut self, rec: HandoverRecord) {
        if self.ring.push(rec).is_err() {
            self.ring[self.next] = rec;
            self.next = (self.next + 1) % KEPT;
        }
    }

    /// Whether message `msg_id` from `source` is on record.
    pub(crate) fn holds(&self, source: Id, msg_id: u64) -> bool {
        self.holds_record(source.high_64(), msg_id)
    }

    fn holds_record(&self, source: u64, msg_id: u64) -> bool {
        self.ring
            .iter()
            .any(|r| r.msg_id == msg_id && r.source == source)
    }

    /// The records whose keys are closer to `joiner` than to `own`: what
    /// a node joining beside us takes over, into `out`.
    pub(crate) fn for_joiner(&self, (own, joiner): (Id, Id), out: &mut Vec<HandoverRecord, KEPT>) {
        let (own, joiner) = (own.high_64(), joiner.high_64());
        out.clear();
        for r in self.ring.iter().filter(|r| closer(r.key, joiner, own)) {
            let _ = out.push(*r);
        }
    }

    /// Takes what `sender` handed us: the records whose keys are closer
    /// to `own` than to the sender (the rest are not ours to hold).
    /// How many it took.
    pub(crate) fn take(
        &mut self,
        (own, sender): (Id, Id),
        handed: impl Iterator<Item = HandoverRecord>,
    ) -> u64 {
        let (own, sender) = (own.high_64(), sender.high_64());
        let mut n = 0;
        for rec in handed.filter(|r| closer(r.key, own, sender)) {
            self.note(rec);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(top: u64) -> Id {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&top.to_be_bytes());
        Id::from_bytes(b)
    }

    fn for_joiner(r: &Records, own: Id, joiner: Id) -> std::vec::Vec<u64> {
        let mut out = Vec::new();
        r.for_joiner((own, joiner), &mut out);
        out.iter().map(|x| x.msg_id).collect()
    }

    #[test]
    fn a_joiner_gets_only_the_records_of_keys_closer_to_it() {
        let (own, joiner) = (id(1_000), id(2_000));
        let mut r = Records::new();
        // Keys at 1,400 and 1,600 straddle the midpoint 1,500.
        r.note(HandoverRecord::new(id(1_400), id(7), 1));
        r.note(HandoverRecord::new(id(1_600), id(7), 2));
        r.note(HandoverRecord::new(id(1_900), id(8), 3));
        assert_eq!(for_joiner(&r, own, joiner), [2, 3]);
        assert_eq!(for_joiner(&r, joiner, own), [1]);
        // Across zero on the ring too.
        let (own, joiner) = (id(u64::MAX - 10), id(10));
        let mut r = Records::new();
        r.note(HandoverRecord::new(id(5), id(7), 4));
        assert_eq!(for_joiner(&r, own, joiner), [4]);
        assert!(for_joiner(&r, joiner, own).is_empty());
    }

    #[test]
    fn a_node_takes_only_records_of_keys_it_is_closer_to_and_holds_the_last_kept() {
        let (own, sender) = (id(2_000), id(1_000));
        let mut r = Records::new();
        let handed = [
            HandoverRecord::new(id(1_600), id(7), 1),
            HandoverRecord::new(id(1_400), id(7), 2),
        ];
        assert_eq!(r.take((own, sender), handed.into_iter()), 1);
        assert!(r.holds(id(7), 1));
        assert!(!r.holds(id(7), 2));
        assert!(!r.holds(id(9), 1), "another source's message 1");
        // Noted twice, kept once.
        r.note(HandoverRecord::new(id(1_600), id(7), 1));
        for m in 10..10 + KEPT as u64 - 1 {
            r.note(HandoverRecord::new(id(1_900), id(7), m));
        }
        assert!(r.holds(id(7), 1), "still among the last {KEPT}");
        r.note(HandoverRecord::new(id(1_900), id(7), 99));
        assert!(!r.holds(id(7), 1), "pushed out by the newer");
        assert!((10..10 + KEPT as u64 - 1).all(|m| r.holds(id(7), m)));
    }
}
