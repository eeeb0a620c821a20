//! The built-in services as one application: the DHT, Scribe, and the
//! client gateway that serves peers outside the overlay through them.

use core::net::SocketAddr;

use crate::app::Application;
use crate::client::{self, Gateway};
use crate::dht::{Dht, DhtEvent, Lookups, Store};
use crate::node::{CommandError, Event, Kbr, Transmit};
use crate::scribe::{Acceptor, Joins, Members, Scribe, ScribeEvent};
use crate::time::Instant;

/// What the services tell their user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceEvent<'a> {
    /// A put's or get's outcome.
    Dht(DhtEvent<'a>),
    /// Multicast news and anycast outcomes.
    Scribe(ScribeEvent<'a>),
}

/// The DHT, Scribe and the client gateway on one node. Node events go to
/// the DHT, then Scribe; outcomes of clients' requests go to the gateway,
/// which answers the clients, and the rest to the user.
#[derive(Debug)]
pub struct Services<S: Store, A: Acceptor = Members> {
    pub(super) dht: Dht<S>,
    pub(super) scribe: Scribe<A>,
    pub(super) gateway: Gateway,
    /// The gateway has relayed the news at the head of Scribe's queue to
    /// its clients (once), and left it for the user.
    relayed_head: bool,
}

impl<S: Store, A: Acceptor> Services<S, A> {
    /// The services, from their parts.
    pub fn new(dht: Dht<S>, scribe: Scribe<A>, gateway: Gateway) -> Self {
        Services {
            dht,
            scribe,
            gateway,
            relayed_head: false,
        }
    }

    /// The DHT.
    pub fn dht(&self) -> &Dht<S> {
        &self.dht
    }

    /// Scribe.
    pub fn scribe(&self) -> &Scribe<A> {
        &self.scribe
    }

    /// The service for clients.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }
}

impl<S: Store, A: Acceptor> Application for Services<S, A> {
    type Event<'a>
        = ServiceEvent<'a>
    where
        Self: 'a;
    type Forwarder = (Lookups, Joins);

    fn forwarder(&self) -> Self::Forwarder {
        (Lookups, Joins)
    }

    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        self.dht.install(node)?;
        self.scribe.install(node)
    }

    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        Application::handle_event(&mut self.dht, now, node, ev)
            || Application::handle_event(&mut self.scribe, now, node, ev)
    }

    #[inline]
    fn has_event(&mut self, delivery: &[u8]) -> bool {
        while let Some(d) = self.dht.peek_outcome(delivery) {
            if !self.gateway.take_dht(&d) {
                return true;
            }
            self.dht.pop_outcome();
        }
        while let Some(s) = self.scribe.peek_news(delivery) {
            if self.relayed_head {
                return true;
            }
            if !self.gateway.take_scribe(&s) {
                self.relayed_head = true;
                return true;
            }
            self.scribe.pop_news();
        }
        false
    }

    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<ServiceEvent<'a>> {
        if !self.has_event(delivery) {
            return None;
        }
        if let Some(d) = self.dht.peek_outcome(delivery) {
            self.dht.pop_outcome();
            return Some(ServiceEvent::Dht(d));
        }
        let s = self.scribe.peek_news(delivery)?;
        self.scribe.pop_news();
        self.relayed_head = false;
        Some(ServiceEvent::Scribe(s))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let dht = self.dht.poll_timeout();
        let scribe = self.scribe.poll_timeout();
        let gateway = self.gateway.poll_timeout();
        dht.into_iter().chain(scribe).chain(gateway).min()
    }

    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        self.dht.handle_timeout(now, node);
        self.scribe.handle_timeout(now, node);
        self.gateway.handle_timeout(now, node, &mut self.scribe);
    }

    fn waits_for_room(&self) -> bool {
        self.dht.waits_for_room() || self.scribe.waits_for_room()
    }

    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        self.dht.on_room(now, node);
        self.scribe.on_room(now, node);
    }

    fn handle_datagram(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        from: SocketAddr,
        bytes: &[u8],
    ) -> bool {
        if !client::msg::is_client_datagram(bytes) {
            return false;
        }
        let apps = (node, &mut self.dht, &mut self.scribe);
        self.gateway.handle_datagram(now, from, bytes, apps);
        true
    }

    fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        self.gateway.poll_transmit(buf)
    }
}
