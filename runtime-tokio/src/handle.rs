//! The application's side of a running node: async commands that travel
//! to the node's task on a bounded queue and come back on a one-shot
//! channel. A dropped future drops only its answer; the node carries on.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use pastry_core::node::AppPolicy;
use pastry_core::stack::runtime::HostedApp;
use pastry_core::stack::waiters::{self, Answer, NodeEvent, Value};
use pastry_core::{AppId, Id, Instant, Kbr, NodeSet, Peer};
use tokio::sync::{mpsc, oneshot};

use pastry_core::stack::runtime::Error;
use pastry_core::stack::runtime::RuntimeStack;
use pastry_core::stack::runtime::Stats;

/// How a command's answer travels back.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A read of the node's state, run on the node's task.
pub(crate) type Inspect = Box<dyn FnOnce(&RuntimeStack) + Send>;

/// A call into the hosted application, run on the node's task at the
/// given time (the node is drained after it).
pub(crate) type AppCall = Box<dyn FnOnce(&mut RuntimeStack, Instant) + Send>;

/// A command for the node's task.
pub(crate) enum Command {
    /// A command of the stack, answered through the waiters.
    Stack(waiters::Command),
    Inspect(Inspect),
    App(AppCall),
    Stats(Reply<Stats>),
    Shutdown(Reply<()>),
    Crash(Reply<()>),
}

/// A one-shot channel's sender as the core's answer.
fn answer<T: Send + 'static>(tx: Reply<T>) -> Answer<T> {
    // A caller that gave up dropped its receiver: nothing to tell.
    Box::new(move |r| drop(tx.send(r.map_err(Error::from))))
}

/// Talks to one running node. Cheap to clone; every clone reaches the same
/// node. When the last handle is dropped the node leaves the overlay and
/// stops. Calls on a stopped node answer [`Error::Stopped`].
#[derive(Clone, Debug)]
pub struct Handle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) own: Peer,
    pub(crate) attach_timeout: Duration,
}

impl Handle {
    /// This node as others see it (its id and bound address).
    pub fn own(&self) -> Peer {
        self.own
    }

    async fn ask_stack<T: Send + 'static>(
        &self,
        make: impl FnOnce(Answer<T>) -> waiters::Command,
    ) -> Result<T, Error> {
        self.ask(|tx| Command::Stack(make(answer(tx)))).await
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Joins the overlay through `bootstrap`, any member; `None` starts a
    /// new overlay of one. Answers once the node is active (its leaf set
    /// confirmed), or [`Error::JoinFailed`] after the core's retries.
    pub async fn join(&self, bootstrap: Option<SocketAddr>) -> Result<(), Error> {
        self.ask_stack(|a| waiters::Command::Join(bootstrap, a))
            .await
    }

    /// KBR `route`: sends `payload` for application `app` to the live node
    /// whose id is numerically closest to `key`, where it is delivered as
    /// [`NodeEvent::Deliver`]. Answers the message's id once it is queued.
    pub async fn route(
        &self,
        key: Id,
        app: AppId,
        payload: impl Into<Bytes>,
    ) -> Result<u64, Error> {
        let payload = payload.into().to_vec();
        self.ask_stack(|a| waiters::Command::Route(key, app, payload, a))
            .await
    }

    /// OSDI'02's `sec_route`: sends `payload` to every correct one of the
    /// `replicas` live nodes closest to `key`, though some nodes on the way
    /// are faulty (`docs/secure-routing.md`; turn on
    /// `Config::secure.enabled` so the node keeps a constrained table).
    /// Each root gets [`NodeEvent::Deliver`] with the answered id as its
    /// `msg_id`; this node gets [`NodeEvent::Secured`] naming the roots.
    pub async fn secure_route(
        &self,
        key: Id,
        app: AppId,
        payload: impl Into<Bytes>,
        replicas: usize,
    ) -> Result<u64, Error> {
        let payload = payload.into().to_vec();
        self.ask_stack(|a| waiters::Command::SecureRoute(key, app, payload, replicas, a))
            .await
    }

    /// Stores `value` under `key` at `version` on the key's replica set;
    /// answers how many replicas stored it, once a quorum did.
    pub async fn put(&self, key: Id, version: u64, value: impl Into<Bytes>) -> Result<u8, Error> {
        let value = value.into().to_vec();
        self.ask_stack(|a| waiters::Command::Put(key, version, value, None, a))
            .await
    }

    /// [`Handle::put`] of a value the replicas drop after `ttl` (to a
    /// second), unless a put of the same version renews it first. A lease
    /// the replicas keep, not a promise: to take a value back for certain,
    /// [`Handle::delete`] it.
    pub async fn put_expiring(
        &self,
        key: Id,
        version: u64,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<u8, Error> {
        let value = value.into().to_vec();
        self.ask_stack(|a| waiters::Command::Put(key, version, value, Some(ttl), a))
            .await
    }

    /// Deletes `key` at `version`, which must be above the stored one:
    /// its replicas keep a tombstone (for `DhtConfig::tombstone_ttl`) so
    /// no older version comes back, and gets find nothing. A key holding a
    /// content-hash or signed value refuses it (`Error::Put(PutError::Protected)`).
    /// Answers how many replicas stored the deletion.
    pub async fn delete(&self, key: Id, version: u64) -> Result<u8, Error> {
        self.ask_stack(|a| waiters::Command::Delete(key, version, a))
            .await
    }

    /// Stores `value` under its content hash (key = SHA-1(value), checked
    /// by every replica); answers the key and the replicas that stored it.
    pub async fn put_content(&self, value: impl Into<Bytes>) -> Result<(Id, u8), Error> {
        let value = value.into().to_vec();
        self.ask_stack(|a| waiters::Command::PutContent(value, None, a))
            .await
    }

    /// [`Handle::put_content`] of a value the replicas drop after `ttl`;
    /// a content-hash value cannot be deleted, only left to expire.
    pub async fn put_content_expiring(
        &self,
        value: impl Into<Bytes>,
        ttl: Duration,
    ) -> Result<(Id, u8), Error> {
        let value = value.into().to_vec();
        self.ask_stack(|a| waiters::Command::PutContent(value, Some(ttl), a))
            .await
    }

    /// Reads `key`: the value, or `None` if no replica holds it.
    pub async fn get(&self, key: Id) -> Result<Option<Value>, Error> {
        self.ask_stack(|a| waiters::Command::Get(key, false, a))
            .await
    }

    /// Reads a content-hash key; a value that does not hash to `key` is
    /// refused on the way.
    pub async fn get_content(&self, key: Id) -> Result<Option<Value>, Error> {
        self.ask_stack(|a| waiters::Command::Get(key, true, a))
            .await
    }

    /// [`Handle::put`] through secure routing: stored on every replica
    /// root a secure lookup finds, so faulty nodes on the paths or among
    /// the roots cannot keep it from the correct ones
    /// (`docs/secure-routing.md`; turn on `Config::secure.enabled`).
    pub async fn secure_put(
        &self,
        key: Id,
        version: u64,
        value: impl Into<Bytes>,
    ) -> Result<u8, Error> {
        let value = value.into().to_vec();
        self.ask_stack(|a| waiters::Command::SecurePut(key, version, value, a))
            .await
    }

    /// [`Handle::put_content`] through secure routing.
    pub async fn secure_put_content(&self, value: impl Into<Bytes>) -> Result<(Id, u8), Error> {
        let value = value.into().to_vec();
        self.ask_stack(|a| waiters::Command::SecurePutContent(value, a))
            .await
    }

    /// [`Handle::get`] through secure routing: asks every root; a plain
    /// value only if more than half of them return it, else
    /// [`Error::Disputed`].
    pub async fn secure_get(&self, key: Id) -> Result<Option<Value>, Error> {
        self.ask_stack(|a| waiters::Command::SecureGet(key, false, a))
            .await
    }

    /// [`Handle::get_content`] through secure routing: any root's copy
    /// that hashes to `key`, however many others are faulty.
    pub async fn secure_get_content(&self, key: Id) -> Result<Option<Value>, Error> {
        self.ask_stack(|a| waiters::Command::SecureGet(key, true, a))
            .await
    }

    /// Joins a multicast group (its id is [`pastry_core::scribe::group_id`]
    /// of its name). Answers once this member is on the group's tree, or
    /// [`Error::TimedOut`] after the node's attach timeout; it stays a
    /// member then, and [`NodeEvent::Attached`] follows when it attaches.
    pub async fn subscribe(&self, group: Id) -> Result<(), Error> {
        self.subscribe_with(|a| waiters::Command::Subscribe(group, a))
            .await
    }

    /// [`Handle::subscribe`] straight under the group's root, found by
    /// secure routing, so no faulty node on the way becomes this member's
    /// parent (`docs/secure-routing.md`).
    pub async fn secure_subscribe(&self, group: Id) -> Result<(), Error> {
        self.subscribe_with(|a| waiters::Command::SecureSubscribe(group, a))
            .await
    }

    async fn subscribe_with(
        &self,
        command: impl FnOnce(Answer<()>) -> waiters::Command,
    ) -> Result<(), Error> {
        let wait = self.attach_timeout;
        match tokio::time::timeout(wait, self.ask_stack(command)).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::TimedOut),
        }
    }

    /// Leaves a multicast group.
    pub async fn unsubscribe(&self, group: Id) -> Result<(), Error> {
        self.ask_stack(|a| waiters::Command::Unsubscribe(group, a))
            .await
    }

    /// Publishes `data` to every member of `group`; answers the
    /// publication's id once it is sent toward the group's root.
    pub async fn publish(&self, group: Id, data: impl Into<Bytes>) -> Result<u64, Error> {
        let data = data.into().to_vec();
        self.ask_stack(|a| waiters::Command::Publish(group, data, a))
            .await
    }

    /// Offers `data` to one member of `group` (nearest first, depth-first
    /// through the tree); answers the member that accepted it.
    pub async fn anycast(&self, group: Id, data: impl Into<Bytes>) -> Result<Peer, Error> {
        let data = data.into().to_vec();
        self.ask_stack(|a| waiters::Command::Anycast(group, data, a))
            .await
    }

    /// Sets how this node treats application `app` (PROST): whether it
    /// serves it, and whether it is per-hop (every node on the path runs
    /// the forwarder given to [`crate::Builder::forwarder`]) or end-node.
    pub async fn set_policy(&self, app: AppId, policy: AppPolicy) -> Result<(), Error> {
        self.ask_stack(|a| waiters::Command::Policy(app, policy, a))
            .await
    }

    /// Runs `read` on the node's task with the node's state (the core's
    /// whole read API: leaf set, routing table, stores, counters) and
    /// answers what it returns.
    pub async fn inspect<R: Send + 'static>(
        &self,
        read: impl FnOnce(&RuntimeStack) -> R + Send + 'static,
    ) -> Result<R, Error> {
        let (tx, rx) = oneshot::channel();
        let run: Inspect = Box::new(move |stack| {
            let _ = tx.send(read(stack));
        });
        self.commands
            .send(Command::Inspect(run))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Runs `f` on the node's task with its hosted application (of type
    /// `T`, see [`Builder::app`](crate::Builder::app)), the node for KBR
    /// calls, and the time; answers what `f` returns, or
    /// [`Error::NoApp`] when the node hosts no `T`.
    pub async fn app<T: HostedApp, R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut T, &mut dyn Kbr, Instant) -> R + Send + 'static,
    ) -> Result<R, Error> {
        self.ask(|tx| {
            Command::App(Box::new(move |stack, now| {
                let (hosted, node, now) = stack.app_mut(now);
                let r = match hosted.get_mut::<T>() {
                    Some(app) => Ok(f(app, node, now)),
                    None => Err(Error::NoApp),
                };
                let _ = tx.send(r);
            }))
        })
        .await
    }

    /// KBR `neighbor_set(n)`: up to `n` leaf-set members, nearest first.
    pub async fn neighbor_set(&self, n: usize) -> Result<NodeSet, Error> {
        self.inspect(move |s| s.node().neighbor_set(n)).await
    }

    /// KBR `replica_set(key, r)`: the `r` nodes that should hold `key`,
    /// closest first (exact while `key` is within the leaf set's span).
    pub async fn replica_set(&self, key: Id, r: usize) -> Result<NodeSet, Error> {
        self.inspect(move |s| s.node().replica_set(key, r)).await
    }

    /// Whether the node is active in the overlay.
    pub async fn is_active(&self) -> Result<bool, Error> {
        self.inspect(|s| s.node().is_active()).await
    }

    /// The node's, its applications' and the runtime's counters.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.ask(Command::Stats).await
    }

    /// Leaves the overlay gracefully (the leaf set repairs at once and held
    /// messages are handed on), sends what is queued, and stops the node's
    /// task. Answers once the task has ended and its socket is closed.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.ask(Command::Shutdown).await?;
        self.commands.closed().await;
        Ok(())
    }

    /// Stops the node at once without telling anyone, as a crash or a
    /// pulled cable would: its neighbours find out by themselves (for
    /// tests and demonstrations of repair). Answers once the task ended.
    pub async fn crash(&self) -> Result<(), Error> {
        self.ask(Command::Crash).await?;
        self.commands.closed().await;
        Ok(())
    }

    /// Whether the node's task has ended.
    pub fn is_stopped(&self) -> bool {
        self.commands.is_closed()
    }
}

/// The node's events, in order. If the application falls behind by more
/// than the capacity given at spawn, newer events are dropped and counted
/// (see [`RuntimeStats::events_dropped`](crate::RuntimeStats::events_dropped)).
#[derive(Debug)]
pub struct Events {
    pub(crate) rx: mpsc::Receiver<NodeEvent>,
}

impl Events {
    /// The next event; `None` once the node has stopped and every event
    /// was read.
    pub async fn recv(&mut self) -> Option<NodeEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<NodeEvent> {
        self.rx.try_recv().ok()
    }
}

/// The events as a stream (`futures::StreamExt` and the like work on it);
/// it ends once the node has stopped and every event was read.
impl futures_core::Stream for Events {
    type Item = NodeEvent;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<NodeEvent>> {
        self.rx.poll_recv(cx)
    }
}
