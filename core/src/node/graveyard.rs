//! Leaf-set members declared failed recently. A partition makes each side
//! declare the other failed; after it heals nothing would bring them back
//! together, since no node knows a live node across. So each node re-probes
//! one of its recently failed members at every heartbeat; one answer brings
//! that member's leaf set, and the rings merge from there. Bounded, and
//! silent when nothing failed.

use heapless::Deque;

use crate::id::Id;
use crate::peer::Peer;
use crate::time::Instant;

/// Failed members remembered.
pub(crate) const GRAVEYARD: usize = 8;

#[derive(Clone, Debug)]
pub(crate) struct Graveyard {
    /// (member, when declared failed), oldest first.
    list: Deque<(Peer, Instant), GRAVEYARD>,
}

impl Graveyard {
    pub(crate) fn new() -> Graveyard {
        Graveyard { list: Deque::new() }
    }

    /// Remembers `peer`, forgetting the oldest when full.
    pub(crate) fn bury(&mut self, peer: Peer, now: Instant) {
        self.exhume(peer.id);
        if self.list.is_full() {
            self.list.pop_front();
        }
        let _ = self.list.push_back((peer, now));
    }

    /// Forgets `id` (it proved alive, or left gracefully).
    pub(crate) fn exhume(&mut self, id: Id) {
        let n = self.list.len();
        for _ in 0..n {
            if let Some(e) = self.list.pop_front() {
                if e.0.id != id {
                    let _ = self.list.push_back(e);
                }
            }
        }
    }

    /// The next member to re-probe, in turn, dropping those buried before
    /// `forget_before`.
    pub(crate) fn next(&mut self, forget_before: Instant) -> Option<Peer> {
        while let Some(&(p, at)) = self.list.front() {
            self.list.pop_front();
            if at >= forget_before {
                let _ = self.list.push_back((p, at));
                return Some(p);
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}
