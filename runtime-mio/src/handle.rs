//! The application's side: a blocking handle per node. Each call queues a
//! command in the loop's mailbox and waits for its answer, at most the
//! handle's time limit; a full mailbox answers Busy, a stopped loop or
//! node answers Stopped.

use std::net::SocketAddr;
use std::time::Duration;

use pastry_core::node::AppPolicy;
use pastry_core::stack::runtime::{Error, HostedApp, Stats};
use pastry_core::stack::waiters::{self, Answer, Value};
use pastry_core::{AppId, Id, Instant, Kbr, NodeSet, Peer};

use crate::event_loop::Command;
use crate::mailbox::{self, SendError, Sender, Unanswered};
use crate::node::{MioStack, NodeCommand, Reply};

/// Talks to one node of an event loop. `Clone + Send + Sync`: share it
/// between threads freely.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(crate) mailbox: Sender<Command>,
    pub(crate) index: usize,
    pub(crate) own: Peer,
    pub(crate) timeout: Duration,
    pub(crate) attach_timeout: Duration,
}

fn unanswered(u: Unanswered) -> Error {
    match u {
        Unanswered::Stopped => Error::Stopped,
        Unanswered::TimedOut => Error::TimedOut,
    }
}

impl Handle {
    /// This node as others see it.
    pub fn own(&self) -> Peer {
        self.own
    }

    fn ask_within<T>(
        &self,
        limit: Duration,
        make: impl FnOnce(Reply<T>) -> NodeCommand,
    ) -> Result<T, Error> {
        let (tx, rx) = mailbox::reply();
        match self.mailbox.send(Command::Node(self.index, make(tx))) {
            Ok(()) => {}
            Err(SendError::Full(_)) => return Err(Error::Busy),
            Err(SendError::Closed(_)) => return Err(Error::Stopped),
        }
        rx.wait_timeout(limit).map_err(unanswered)?
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> NodeCommand) -> Result<T, Error> {
        self.ask_within(self.timeout, make)
    }

    fn ask_stack<T: Send + 'static>(
        &self,
        limit: Duration,
        make: impl FnOnce(Answer<T>) -> waiters::Command,
    ) -> Result<T, Error> {
        self.ask_within(limit, |tx: Reply<T>| {
            NodeCommand::Stack(make(Box::new(move |r| tx.send(r.map_err(Error::from)))))
        })
    }

    /// Joins through `bootstrap`, or starts an overlay with `None`;
    /// answers once the node is active.
    pub fn join(&self, bootstrap: Option<SocketAddr>) -> Result<(), Error> {
        self.ask_stack(self.timeout, |a| waiters::Command::Join(bootstrap, a))
    }

    /// KBR `route`; the message's id once queued.
    pub fn route(&self, key: Id, app: AppId, payload: &[u8]) -> Result<u64, Error> {
        let payload = payload.to_vec();
        self.ask_stack(self.timeout, |a| {
            waiters::Command::Route(key, app, payload, a)
        })
    }

    /// OSDI'02's `sec_route` to the `replicas` closest live nodes; the
    /// lookup's id once started (see pastry-tokio's `Handle::secure_route`).
    pub fn secure_route(
        &self,
        key: Id,
        app: AppId,
        payload: &[u8],
        replicas: usize,
    ) -> Result<u64, Error> {
        let payload = payload.to_vec();
        self.ask_stack(self.timeout, |a| {
            waiters::Command::SecureRoute(key, app, payload, replicas, a)
        })
    }

    /// Stores `value` under `key` at `version`; the replicas that stored it.
    pub fn put(&self, key: Id, version: u64, value: &[u8]) -> Result<u8, Error> {
        let value = value.to_vec();
        self.ask_stack(self.timeout, |a| {
            waiters::Command::Put(key, version, value, None, a)
        })
    }

    /// [`Handle::put`] of a value the replicas drop after `ttl` (to a
    /// second), unless a put of the same version renews it first; see
    /// `pastry_tokio::Handle::put_expiring`.
    pub fn put_expiring(
        &self,
        key: Id,
        version: u64,
        value: &[u8],
        ttl: Duration,
    ) -> Result<u8, Error> {
        let value = value.to_vec();
        self.ask_stack(self.timeout, |a| {
            waiters::Command::Put(key, version, value, Some(ttl), a)
        })
    }

    /// Deletes `key` at `version` (a tombstone; see
    /// `pastry_tokio::Handle::delete`); the replicas that stored it.
    pub fn delete(&self, key: Id, version: u64) -> Result<u8, Error> {
        self.ask_stack(self.timeout, |a| waiters::Command::Delete(key, version, a))
    }

    /// Stores `value` under its SHA-1; the key and the replicas.
    pub fn put_content(&self, value: &[u8]) -> Result<(Id, u8), Error> {
        let value = value.to_vec();
        self.ask_stack(self.timeout, |a| {
            waiters::Command::PutContent(value, None, a)
        })
    }

    /// [`Handle::put_content`] of a value the replicas drop after `ttl`.
    pub fn put_content_expiring(&self, value: &[u8], ttl: Duration) -> Result<(Id, u8), Error> {
        let value = value.to_vec();
        self.ask_stack(self.timeout, |a| {
            waiters::Command::PutContent(value, Some(ttl), a)
        })
    }

    /// Reads `key`.
    pub fn get(&self, key: Id) -> Result<Option<Value>, Error> {
        self.ask_stack(self.timeout, |a| waiters::Command::Get(key, false, a))
    }

    /// Reads a content-hash key.
    pub fn get_content(&self, key: Id) -> Result<Option<Value>, Error> {
        self.ask_stack(self.timeout, |a| waiters::Command::Get(key, true, a))
    }

    /// [`Handle::put`] through secure routing: stored on every replica
    /// root a secure lookup finds (`docs/secure-routing.md`).
    pub fn secure_put(&self, key: Id, version: u64, value: &[u8]) -> Result<u8, Error> {
        let value = value.to_vec();
        self.ask_stack(self.timeout, |a| {
            waiters::Command::SecurePut(key, version, value, a)
        })
    }

    /// [`Handle::put_content`] through secure routing.
    pub fn secure_put_content(&self, value: &[u8]) -> Result<(Id, u8), Error> {
        let value = value.to_vec();
        self.ask_stack(self.timeout, |a| {
            waiters::Command::SecurePutContent(value, a)
        })
    }

    /// [`Handle::get`] through secure routing: a plain value only if a
    /// majority of the roots return it ([`Error::Disputed`] if none does).
    pub fn secure_get(&self, key: Id) -> Result<Option<Value>, Error> {
        self.ask_stack(self.timeout, |a| waiters::Command::SecureGet(key, false, a))
    }

    /// [`Handle::get_content`] through secure routing: any root's copy
    /// that hashes to `key`.
    pub fn secure_get_content(&self, key: Id) -> Result<Option<Value>, Error> {
        self.ask_stack(self.timeout, |a| waiters::Command::SecureGet(key, true, a))
    }

    /// Joins a multicast group; answers once attached to its tree (or
    /// TimedOut after the attach limit; the node stays a member).
    pub fn subscribe(&self, group: Id) -> Result<(), Error> {
        self.ask_stack(self.attach_timeout, |a| {
            waiters::Command::Subscribe(group, a)
        })
    }

    /// [`Handle::subscribe`] straight under the group's root, found by
    /// secure routing.
    pub fn secure_subscribe(&self, group: Id) -> Result<(), Error> {
        self.ask_stack(self.attach_timeout, |a| {
            waiters::Command::SecureSubscribe(group, a)
        })
    }

    /// Leaves a multicast group.
    pub fn unsubscribe(&self, group: Id) -> Result<(), Error> {
        self.ask_stack(self.timeout, |a| waiters::Command::Unsubscribe(group, a))
    }

    /// Publishes to a group; the publication's id.
    pub fn publish(&self, group: Id, data: &[u8]) -> Result<u64, Error> {
        let data = data.to_vec();
        self.ask_stack(self.timeout, |a| waiters::Command::Publish(group, data, a))
    }

    /// Offers `data` to one member of `group`; who took it.
    pub fn anycast(&self, group: Id, data: &[u8]) -> Result<Peer, Error> {
        let data = data.to_vec();
        self.ask_stack(self.timeout, |a| waiters::Command::Anycast(group, data, a))
    }

    /// Sets how this node treats application `app` (PROST).
    pub fn set_policy(&self, app: AppId, policy: AppPolicy) -> Result<(), Error> {
        self.ask_stack(self.timeout, |a| waiters::Command::Policy(app, policy, a))
    }

    /// Runs `read` on the loop's thread with the node's state.
    pub fn inspect<R: Send + 'static>(
        &self,
        read: impl FnOnce(&MioStack) -> R + Send + 'static,
    ) -> Result<R, Error> {
        self.ask(|r: Reply<R>| NodeCommand::Inspect(Box::new(move |s| r.send(Ok(read(s))))))
    }

    /// Runs `f` on the loop's thread with the node's hosted application
    /// (of type `T`, see [`Builder::app`](crate::Builder::app)), the node
    /// for KBR calls, and the time; answers what `f` returns, or
    /// [`Error::NoApp`] when the node hosts no `T`.
    pub fn app<T: HostedApp, R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T, &mut dyn Kbr, Instant) -> R + Send + 'static,
    ) -> Result<R, Error> {
        self.ask(|r: Reply<R>| {
            NodeCommand::App(Box::new(move |stack, now| {
                let (hosted, node, now) = stack.app_mut(now);
                r.send(match hosted.get_mut::<T>() {
                    Some(app) => Ok(f(app, node, now)),
                    None => Err(Error::NoApp),
                });
            }))
        })
    }

    /// KBR `neighbor_set(n)`.
    pub fn neighbor_set(&self, n: usize) -> Result<NodeSet, Error> {
        self.inspect(move |s| s.node().neighbor_set(n))
    }

    /// KBR `replica_set(key, r)`.
    pub fn replica_set(&self, key: Id, r: usize) -> Result<NodeSet, Error> {
        self.inspect(move |s| s.node().replica_set(key, r))
    }

    /// Every counter of the node.
    pub fn stats(&self) -> Result<Stats, Error> {
        self.ask(NodeCommand::Stats)
    }

    /// Leaves the overlay gracefully and stops the node (its socket
    /// closes); other nodes of the loop carry on.
    pub fn shutdown(&self) -> Result<(), Error> {
        self.ask(NodeCommand::Shutdown)
    }

    /// Stops the node at once without telling anyone, as a crash would.
    pub fn crash(&self) -> Result<(), Error> {
        self.ask(NodeCommand::Crash)
    }
}
