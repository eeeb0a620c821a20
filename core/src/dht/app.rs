//! The DHT on the application seam: the host hands it every node event,
//! asks it for outcomes, and folds its deadline into one.

use core::ops::Range;

use super::{Dht, DhtEvent, Lookups, Store, Upcall};
use crate::app::{Application, range_in};
use crate::node::{CommandError, Event, Kbr};
use crate::time::Instant;

/// An outcome that borrows the delivery it came from, kept as the range
/// of its bytes there until the host polls it (before the next delivery).
pub(super) type Lent = Option<(DhtEvent<'static>, Range<usize>)>;

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// The next outcome, its bytes in `delivery`; stays until popped.
    pub(crate) fn peek_outcome<'a>(&self, delivery: &'a [u8]) -> Option<DhtEvent<'a>> {
        match &self.lent {
            Some((
                DhtEvent::Found {
                    op,
                    key,
                    version,
                    cached,
                    ..
                },
                range,
            )) => Some(DhtEvent::Found {
                op: *op,
                key: *key,
                version: *version,
                cached: *cached,
                value: delivery.get(range.clone()).unwrap_or_default(),
            }),
            Some((ev, _)) => Some(*ev),
            None => self.events.front().copied(),
        }
    }

    pub(crate) fn pop_outcome(&mut self) {
        if self.lent.take().is_none() {
            self.events.pop_front();
        }
    }
}

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Application
    for Dht<S, CACHE, CACHE_BYTES>
{
    type Event<'a>
        = DhtEvent<'a>
    where
        Self: 'a;
    type Forwarder = Lookups;

    fn forwarder(&self) -> Lookups {
        Lookups
    }

    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        Dht::install(self, node)
    }

    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        let delivery = match ev {
            Event::Deliver(d) => d.payload,
            _ => &[],
        };
        match Dht::handle_event(self, now, node, ev) {
            Some(Upcall::Overlay(_)) => false,
            Some(Upcall::Dht(d)) => {
                self.lent = Some(match d {
                    DhtEvent::Found {
                        op,
                        key,
                        version,
                        cached,
                        value,
                    } => {
                        let range = range_in(delivery, value);
                        let value = &[];
                        let ev = DhtEvent::Found {
                            op,
                            key,
                            version,
                            cached,
                            value,
                        };
                        (ev, range)
                    }
                    DhtEvent::Stored { op, key, replicas } => {
                        (DhtEvent::Stored { op, key, replicas }, 0..0)
                    }
                    DhtEvent::PutFailed { op, key, error } => {
                        (DhtEvent::PutFailed { op, key, error }, 0..0)
                    }
                    DhtEvent::NotFound { op, key } => (DhtEvent::NotFound { op, key }, 0..0),
                    DhtEvent::GetTimedOut { op, key } => (DhtEvent::GetTimedOut { op, key }, 0..0),
                    DhtEvent::Disputed { op, key } => (DhtEvent::Disputed { op, key }, 0..0),
                });
                true
            }
            None => true,
        }
    }

    fn has_event(&mut self, _delivery: &[u8]) -> bool {
        self.lent.is_some() || !self.events.is_empty()
    }

    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<DhtEvent<'a>> {
        let ev = self.peek_outcome(delivery)?;
        self.pop_outcome();
        Some(ev)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Dht::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        Dht::handle_timeout(self, now, node);
    }

    fn waits_for_room(&self) -> bool {
        !self.deferred.is_empty()
    }

    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        self.flush(now, node);
    }
}
