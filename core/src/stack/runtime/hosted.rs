//! A user application as a runtime hosts it (`HostedApp`, behind a box),
//! and its reads of the DHT through the runtime.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::any::Any;
use core::fmt;

use crate::app::Application;
use crate::id::Id;
use crate::node::{CommandError, Event, Kbr, Passthrough};
use crate::stack::waiters::Waiters;
use crate::time::Instant;

use super::RuntimeStack;

/// A user application as a runtime hosts it: an [`Application`] behind a
/// box, so one node type serves every application, and reached from a
/// handle by its concrete type. Its events leave as bytes
/// ([`NodeEvent::App`](crate::stack::waiters::NodeEvent::App)).
pub trait HostedApp: Any + Send {
    /// Sets the node's policy for its application ids; called once.
    fn install(&mut self, node: &mut dyn Kbr) -> Result<(), CommandError> {
        let _ = node;
        Ok(())
    }
    /// A node event; `true` if it was this application's alone.
    fn handle_event(&mut self, now: Instant, node: &mut dyn Kbr, ev: Event<'_>) -> bool {
        let _ = (now, node, ev);
        false
    }
    /// The next event for the application's user.
    fn poll_event(&mut self) -> Option<Vec<u8>> {
        None
    }
    /// When [`HostedApp::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// Runs what is due at `now`.
    fn handle_timeout(&mut self, now: Instant, node: &mut dyn Kbr) {
        let _ = (now, node);
    }
    /// Whether it has messages waiting for room in the node.
    fn waits_for_room(&self) -> bool {
        false
    }
    /// The node has room again: send what waits while it lasts.
    fn on_room(&mut self, now: Instant, node: &mut dyn Kbr) {
        let _ = (now, node);
    }
    /// A content-hash key whose value the application wants from the DHT
    /// (a hosted application reads the DHT through the runtime, which
    /// owns it). At most [`MAX_FETCHES`] are asked at once.
    fn poll_fetch(&mut self) -> Option<Id> {
        None
    }
    /// The answer to a fetch: the value (checked against its hash), or
    /// `None` if no replica has it or the get failed.
    fn fetched(&mut self, now: Instant, node: &mut dyn Kbr, key: Id, value: Option<&[u8]>) {
        let _ = (now, node, key, value);
    }
}

/// Fetches a hosted application has in flight at once.
pub const MAX_FETCHES: usize = 8;

/// The hosted application, if any, with its next event read ahead (the
/// host asks whether there is one before it takes it).
#[derive(Default)]
pub struct Hosted {
    app: Option<Box<dyn HostedApp>>,
    next: Option<Vec<u8>>,
}

impl Hosted {
    /// Hosts `app`.
    pub fn new(app: impl HostedApp) -> Hosted {
        Hosted {
            app: Some(Box::new(app)),
            next: None,
        }
    }

    /// The application, if it is a `T`.
    pub fn get_mut<T: HostedApp>(&mut self) -> Option<&mut T> {
        let app: &mut dyn Any = self.app.as_deref_mut()?;
        app.downcast_mut()
    }
}

impl fmt::Debug for Hosted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.app.is_some() {
            "Hosted(app)"
        } else {
            "Hosted(none)"
        })
    }
}

impl Application for Hosted {
    type Event<'a> = Vec<u8>;
    type Forwarder = Passthrough;

    fn forwarder(&self) -> Passthrough {
        Passthrough
    }
    fn install(&mut self, node: &mut impl Kbr) -> Result<(), CommandError> {
        self.app.as_mut().map_or(Ok(()), |a| a.install(node))
    }
    fn handle_event(&mut self, now: Instant, node: &mut impl Kbr, ev: Event<'_>) -> bool {
        self.app
            .as_mut()
            .is_some_and(|a| a.handle_event(now, node, ev))
    }
    fn has_event(&mut self, _delivery: &[u8]) -> bool {
        if self.next.is_none() {
            self.next = self.app.as_mut().and_then(|a| a.poll_event());
        }
        self.next.is_some()
    }
    fn poll_event<'a>(&'a mut self, delivery: &'a [u8]) -> Option<Vec<u8>> {
        self.has_event(delivery);
        self.next.take()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.app.as_ref()?.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant, node: &mut impl Kbr) {
        if let Some(a) = self.app.as_mut() {
            a.handle_timeout(now, node);
        }
    }
    fn waits_for_room(&self) -> bool {
        self.app.as_ref().is_some_and(|a| a.waits_for_room())
    }
    fn on_room(&mut self, now: Instant, node: &mut impl Kbr) {
        if let Some(a) = self.app.as_mut() {
            a.on_room(now, node);
        }
    }
}

/// Hands the hosted application the values it fetched, and starts the
/// fetches it asks for (as content-hash gets) while fewer than
/// [`MAX_FETCHES`] are in flight; whether it did either.
pub(super) fn fetch(stack: &mut RuntimeStack, waiters: &mut Waiters, now: Instant) -> bool {
    let mut did = false;
    while let Some((key, value)) = waiters.take_fetched() {
        did = true;
        let (hosted, node, now) = stack.app_mut(now);
        if let Some(app) = hosted.app.as_mut() {
            app.fetched(now, node, key, value.as_deref());
        }
    }
    while waiters.fetches() < MAX_FETCHES {
        let (hosted, _, _) = stack.app_mut(now);
        let Some(key) = hosted.app.as_mut().and_then(|a| a.poll_fetch()) else {
            return did;
        };
        did = true;
        let (s, node, now) = stack.at(now);
        match s.dht.get_content(now, node, key) {
            Ok(op) => waiters.fetch(op, key),
            Err(_) => {
                let (hosted, node, now) = stack.app_mut(now);
                if let Some(app) = hosted.app.as_mut() {
                    app.fetched(now, node, key, None);
                }
            }
        }
    }
    did
}
