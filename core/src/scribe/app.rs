//! Scribe on the application seam: the host hands it every node event,
//! asks it for news, and folds its deadline into one.

use core::ops::Range;

use super::{Acceptor, Joins, Scribe, ScribeEvent, Upcall};
use crate::app::{Application, range_in};
use crate::node::{CommandError, Event, Kbr};
use crate::time::Instant;

/// News that borrows the delivery it came from (a publication's bytes),
/// kept as their range there until the host polls it.
pub(super) type Lent = Option<(ScribeEvent<'static>, Range<usize>)>;

impl<A: Acceptor, const GROUPS: usize, const CHILDREN: usize> Scribe<A, GROUPS, CHILDREN> {
    /// The next news, its bytes in `delivery`; stays until popped.
    pub(crate) fn peek_news<'a>(&self, delivery: &'a [u8]) -> Option<ScribeEvent<'a>> {
        match &self.lent {
            Some((ScribeEvent::Delivered { group, id, .. }, range)) => {
                Some(ScribeEvent::Delivered {
                    group: *group,
                    id: *id,
                    data: delivery.get(range.clone()).unwrap_or_default(),
                })
            }
            Some((ScribeEvent::AnycastTaken { group, origin, .. }, range)) => {
                Some(ScribeEvent::AnycastTaken {
                    group: *group,
                    origin: *origin,
                    data: delivery.get(range.clone()).unwrap_or_default(),
                })
            }
            Some((ev, _)) => Some(*ev),
            None => self.events.front().copied(),
        }
    }

    pub(crate) fn pop_news(&mut self) {
        if self.lent.take().is_none() {
            self.events.pop_front();
        }
    }
}

impl<A: Acceptor, const GROUPS: usize, const CHILDREN: usize> Application
    for Scribe<A, GROUPS, CHILDREN>
{
    type Event<'a>
        = ScribeEvent<'a>
    where
        Self: 'a;
    type Forwarder = Joins;

    fn forwarder(&self) -> Joins {
        Joins
    }

    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        Scribe::install(self, node)
    }

    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        let delivery = match ev {
            Event::Deliver(d) => d.payload,
            _ => &[],
        };
        match Scribe::handle_event(self, now, node, ev) {
            Some(Upcall::Overlay(_)) => false,
            Some(Upcall::Scribe(s)) => {
                self.lent = Some(match s {
                    ScribeEvent::Delivered { group, id, data } => {
                        let range = range_in(delivery, data);
                        (
                            ScribeEvent::Delivered {
                                group,
                                id,
                                data: &[],
                            },
                            range,
                        )
                    }
                    ScribeEvent::Attached { group } => (ScribeEvent::Attached { group }, 0..0),
                    ScribeEvent::AnycastAccepted { op, group, by } => {
                        (ScribeEvent::AnycastAccepted { op, group, by }, 0..0)
                    }
                    ScribeEvent::AnycastFailed { op, group, error } => {
                        (ScribeEvent::AnycastFailed { op, group, error }, 0..0)
                    }
                    ScribeEvent::AnycastTaken {
                        group,
                        origin,
                        data,
                    } => {
                        let range = range_in(delivery, data);
                        let data = &[];
                        (
                            ScribeEvent::AnycastTaken {
                                group,
                                origin,
                                data,
                            },
                            range,
                        )
                    }
                });
                true
            }
            None => true,
        }
    }

    fn has_event(&mut self, _delivery: &[u8]) -> bool {
        self.lent.is_some() || !self.events.is_empty()
    }

    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<ScribeEvent<'a>> {
        let ev = self.peek_news(delivery)?;
        self.pop_news();
        Some(ev)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Scribe::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        Scribe::handle_timeout(self, now, node);
    }

    fn waits_for_room(&self) -> bool {
        !self.ctl.is_empty() || !self.backlog.is_empty() || self.beating
    }

    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        self.flush_ctl(now, node);
        self.flush(now, node);
        if self.beating {
            self.beat(now, node);
        }
    }
}
