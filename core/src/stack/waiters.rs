//! What every runtime does between its handle and a [`Stack`], written
//! once: commands as owned values, events with their bytes copied out (so
//! they can cross tasks and threads), and the bookkeeping of which caller
//! waits for which outcome. Still sans-IO: a caller's answer is a boxed
//! one-shot closure the runtime makes from its own channel.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use super::{Stack, StackEvent};
use crate::app::Application;
use crate::dht::{DhtError, DhtEvent, OpId, PutError, Store};
use crate::id::Id;
use crate::node::{AppPolicy, CommandError, Event, Forwarder};
use crate::peer::Peer;
use crate::scribe::{Acceptor, AnycastError, AnycastId, ScribeError, ScribeEvent};
use crate::time::Instant;
use crate::wire::AppId;

/// Why a command did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The node refused it.
    Command(CommandError),
    /// The DHT refused it.
    Dht(DhtError),
    /// Scribe refused it.
    Scribe(ScribeError),
    /// The join got no answer after every retry.
    JoinFailed,
    /// The replicas refused the put, or too few stored it in time.
    Put(PutError),
    /// No member accepted the anycast, or none answered in time.
    Anycast(AnycastError),
    /// A get had no answer in time.
    TimedOut,
    /// A secure get's roots disagreed and no answer had a majority
    /// ([`DhtEvent::Disputed`]).
    Disputed,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Command(e) => write!(f, "refused: {e}"),
            Failure::Dht(e) => write!(f, "dht refused: {e}"),
            Failure::Scribe(e) => write!(f, "scribe refused: {e}"),
            Failure::JoinFailed => f.write_str("the join got no answer"),
            Failure::Put(e) => write!(f, "{e}"),
            Failure::Anycast(e) => write!(f, "{e}"),
            Failure::TimedOut => f.write_str("no answer in time"),
            Failure::Disputed => f.write_str("the replica roots disagree, none by a majority"),
        }
    }
}

impl core::error::Error for Failure {}

/// A caller's answer: called once, with the outcome.
pub type Answer<T> = Box<dyn FnOnce(Result<T, Failure>) + Send>;

/// A value read from the DHT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// Its version.
    pub version: u64,
    /// Whether a cache answered rather than a replica.
    pub cached: bool,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A command for a stack, owning its bytes.
pub enum Command {
    /// Join through a member, or start an overlay; answered once active.
    Join(Option<SocketAddr>, Answer<()>),
    /// KBR route; answered with the message's id once queued.
    Route(Id, AppId, Vec<u8>, Answer<u64>),
    /// `sec_route` to the key's this many roots; answered with the
    /// lookup's id once started ([`NodeEvent::Secured`] names the roots).
    SecureRoute(Id, AppId, Vec<u8>, usize, Answer<u64>),
    /// Put at a version, kept for a time if one is given; answered with
    /// the replicas that stored it.
    Put(Id, u64, Vec<u8>, Option<Duration>, Answer<u8>),
    /// Put under the value's hash, kept for a time if one is given;
    /// answered with the key and replicas.
    PutContent(Vec<u8>, Option<Duration>, Answer<(Id, u8)>),
    /// Delete at a version ([`crate::dht::Dht::delete`]); answered with
    /// the replicas that stored the tombstone.
    Delete(Id, u64, Answer<u8>),
    /// Get (a content-hash key if the flag is set).
    Get(Id, bool, Answer<Option<Value>>),
    /// [`Command::Put`] through secure routing, to every root
    /// ([`crate::dht::Dht::secure_put`]).
    SecurePut(Id, u64, Vec<u8>, Answer<u8>),
    /// [`Command::PutContent`] through secure routing.
    SecurePutContent(Vec<u8>, Answer<(Id, u8)>),
    /// [`Command::Get`] through secure routing: a value that proves itself
    /// from any root, a plain one from a majority
    /// ([`crate::dht::Dht::secure_get`]).
    SecureGet(Id, bool, Answer<Option<Value>>),
    /// Join a group; answered once attached to its tree.
    Subscribe(Id, Answer<()>),
    /// Join a group straight under its root, by secure routing.
    SecureSubscribe(Id, Answer<()>),
    /// Leave a group.
    Unsubscribe(Id, Answer<()>),
    /// Publish; answered with the publication's id.
    Publish(Id, Vec<u8>, Answer<u64>),
    /// Anycast; answered with the member that took it.
    Anycast(Id, Vec<u8>, Answer<Peer>),
    /// Set an application's policy.
    Policy(AppId, AppPolicy, Answer<()>),
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Command::Join(..) => "Join",
            Command::Route(..) => "Route",
            Command::SecureRoute(..) => "SecureRoute",
            Command::Put(..) => "Put",
            Command::PutContent(..) => "PutContent",
            Command::Delete(..) => "Delete",
            Command::Get(..) => "Get",
            Command::SecurePut(..) => "SecurePut",
            Command::SecurePutContent(..) => "SecurePutContent",
            Command::SecureGet(..) => "SecureGet",
            Command::Subscribe(..) => "Subscribe",
            Command::SecureSubscribe(..) => "SecureSubscribe",
            Command::Unsubscribe(..) => "Unsubscribe",
            Command::Publish(..) => "Publish",
            Command::Anycast(..) => "Anycast",
            Command::Policy(..) => "Policy",
        };
        f.write_str(name)
    }
}

/// Something the application should know, owning its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// The node is active (its leaf set confirmed).
    Joined,
    /// The join got no answer after every retry.
    JoinFailed,
    /// A routed message for one of the user's applications, delivered here
    /// as the root of its key (KBR `deliver`).
    Deliver {
        /// The key.
        key: Id,
        /// Its application.
        app: AppId,
        /// The node that sent it.
        source: Peer,
        /// The source's id for it.
        msg_id: u64,
        /// Overlay hops it took.
        hops: u8,
        /// The application's bytes.
        payload: Vec<u8>,
    },
    /// A node entered or left the leaf set (KBR `update`).
    Neighbour {
        /// The node.
        peer: Peer,
        /// Whether it entered (else it left or failed).
        joined: bool,
    },
    /// A message this node routed could not be delivered (advisory: a copy
    /// may still have arrived).
    RouteFailed {
        /// The id `route` returned.
        msg_id: u64,
        /// Its key.
        key: Id,
        /// Its application.
        app: AppId,
    },
    /// A secure lookup ended with the key's replica roots.
    Secured {
        /// The id `secure_lookup` or `secure_route` returned.
        op: u64,
        /// The key.
        key: Id,
        /// Its replica roots, closest first (none: no answer came).
        roots: Vec<Peer>,
        /// Whether it went through redundant routing.
        redundant: bool,
    },
    /// This member is on the group's tree with a way to its root.
    Attached {
        /// The group.
        group: Id,
    },
    /// An event of the node's hosted application, as it encoded it.
    App(Vec<u8>),
    /// A publication to a group this node is a member of (once each).
    Multicast {
        /// The group.
        group: Id,
        /// The publication's id.
        id: u64,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// This member took another node's anycast (the acceptor said yes):
    /// its bytes, to act on.
    Anycast {
        /// The group.
        group: Id,
        /// The node that sent it.
        origin: Peer,
        /// Its bytes.
        data: Vec<u8>,
    },
}

enum Waiting {
    Put(Answer<u8>),
    PutContent(Id, Answer<(Id, u8)>),
    Get(Answer<Option<Value>>),
}

impl Waiting {
    fn fail(self, e: Failure) {
        match self {
            Waiting::Put(a) => a(Err(e)),
            Waiting::PutContent(_, a) => a(Err(e)),
            Waiting::Get(a) => a(Err(e)),
        }
    }
}

/// Who waits for which outcome of one stack. Dropping it drops every
/// answer unanswered (a runtime's channel then tells its caller the node
/// stopped).
#[derive(Default)]
pub struct Waiters {
    joins: Vec<Answer<()>>,
    ops: BTreeMap<OpId, Waiting>,
    /// The hosted application's reads in flight, by operation.
    fetching: BTreeMap<OpId, Id>,
    /// Its reads answered, for it to take.
    fetched: VecDeque<(Id, Option<Vec<u8>>)>,
    anycasts: BTreeMap<AnycastId, Answer<Peer>>,
    subscribes: BTreeMap<Id, Vec<Answer<()>>>,
}

impl fmt::Debug for Waiters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiters")
            .field("joins", &self.joins.len())
            .field("ops", &self.ops.len())
            .field("anycasts", &self.anycasts.len())
            .field("subscribes", &self.subscribes.len())
            .finish()
    }
}

impl Waiters {
    /// Runs `c` on `stack` at `now`: answers at once, or keeps the answer
    /// for the outcome.
    pub fn command<S: Store, A: Acceptor, F: Forwarder, const POOL: usize, U: Application>(
        &mut self,
        stack: &mut Stack<S, A, F, POOL, U>,
        now: Instant,
        c: Command,
    ) {
        match c {
            Command::Join(boot, a) => match stack.join(now, boot) {
                Ok(()) if stack.node().is_active() => a(Ok(())),
                Ok(()) => self.joins.push(a),
                Err(e) => a(Err(Failure::Command(e))),
            },
            Command::Route(key, app, payload, a) => {
                a(stack
                    .route(now, key, app, &payload, None)
                    .map_err(Failure::Command));
            }
            #[cfg(feature = "secure-routing")]
            Command::SecureRoute(key, app, payload, r, a) => {
                a(stack
                    .node_mut()
                    .secure_route(now, key, app, &payload, r)
                    .map_err(Failure::Command));
            }
            // This build sends no secure queries.
            #[cfg(not(feature = "secure-routing"))]
            Command::SecureRoute(.., a) => a(Err(Failure::Command(CommandError::NotActive))),
            Command::Put(key, version, value, ttl, a) => {
                let (s, node, now) = stack.at(now);
                match s.dht.put_for((now, node), (key, version), &value, ttl) {
                    Ok(op) => drop(self.ops.insert(op, Waiting::Put(a))),
                    Err(e) => a(Err(Failure::Dht(e))),
                }
            }
            Command::PutContent(value, ttl, a) => {
                let (s, node, now) = stack.at(now);
                match s.dht.put_content_for((now, node), &value, ttl) {
                    Ok((key, op)) => drop(self.ops.insert(op, Waiting::PutContent(key, a))),
                    Err(e) => a(Err(Failure::Dht(e))),
                }
            }
            Command::Delete(key, version, a) => match stack.delete(now, key, version) {
                Ok(op) => drop(self.ops.insert(op, Waiting::Put(a))),
                Err(e) => a(Err(Failure::Dht(e))),
            },
            Command::Get(key, content, a) => {
                let op = if content {
                    stack.get_content(now, key)
                } else {
                    stack.get(now, key)
                };
                match op {
                    Ok(op) => drop(self.ops.insert(op, Waiting::Get(a))),
                    Err(e) => a(Err(Failure::Dht(e))),
                }
            }
            #[cfg(feature = "secure-routing")]
            Command::SecurePut(key, version, value, a) => {
                let (s, node, now) = stack.at(now);
                match s.dht.secure_put(now, node, key, version, &value) {
                    Ok(op) => drop(self.ops.insert(op, Waiting::Put(a))),
                    Err(e) => a(Err(Failure::Dht(e))),
                }
            }
            #[cfg(feature = "secure-routing")]
            Command::SecurePutContent(value, a) => {
                let (s, node, now) = stack.at(now);
                match s.dht.secure_put_content(now, node, &value) {
                    Ok((key, op)) => drop(self.ops.insert(op, Waiting::PutContent(key, a))),
                    Err(e) => a(Err(Failure::Dht(e))),
                }
            }
            #[cfg(feature = "secure-routing")]
            Command::SecureGet(key, content, a) => {
                let (s, node, now) = stack.at(now);
                let op = match content {
                    true => s.dht.secure_get_content(now, node, key),
                    false => s.dht.secure_get(now, node, key),
                };
                match op {
                    Ok(op) => drop(self.ops.insert(op, Waiting::Get(a))),
                    Err(e) => a(Err(Failure::Dht(e))),
                }
            }
            // This build sends no secure queries.
            #[cfg(not(feature = "secure-routing"))]
            Command::SecurePut(.., a) => a(Err(Failure::Command(CommandError::NotActive))),
            #[cfg(not(feature = "secure-routing"))]
            Command::SecurePutContent(_, a) => a(Err(Failure::Command(CommandError::NotActive))),
            #[cfg(not(feature = "secure-routing"))]
            Command::SecureGet(.., a) => a(Err(Failure::Command(CommandError::NotActive))),
            Command::Subscribe(group, a) => {
                let done = stack.subscribe(now, group);
                self.subscribed(stack, group, done, a);
            }
            #[cfg(feature = "secure-routing")]
            Command::SecureSubscribe(group, a) => {
                let done = stack.secure_subscribe(now, group);
                self.subscribed(stack, group, done, a);
            }
            #[cfg(not(feature = "secure-routing"))]
            Command::SecureSubscribe(_, a) => a(Err(Failure::Command(CommandError::NotActive))),
            Command::Unsubscribe(group, a) => {
                self.subscribes.remove(&group);
                a(stack.unsubscribe(now, group).map_err(Failure::Scribe));
            }
            Command::Publish(group, data, a) => {
                a(stack.publish(now, group, &data).map_err(Failure::Scribe));
            }
            Command::Anycast(group, data, a) => match stack.anycast(now, group, &data) {
                Ok(op) => drop(self.anycasts.insert(op, a)),
                Err(e) => a(Err(Failure::Scribe(e))),
            },
            Command::Policy(app, policy, a) => {
                let r = stack.node_mut().policy_mut().set(app, policy);
                a(r.map_err(Failure::Command));
            }
        }
    }

    /// Answers whoever waits for `ev`; returns the event for the
    /// application's stream, if it is one. A user application's events
    /// are the runtime's to pass on: none here.
    pub fn outcome<E>(&mut self, ev: StackEvent<'_, E>) -> Option<NodeEvent> {
        match ev {
            StackEvent::App(_) => None,
            StackEvent::Overlay(e) => Some(self.overlay(e)),
            StackEvent::Dht(d) => {
                self.dht(d);
                None
            }
            StackEvent::Scribe(s) => self.scribe(s),
        }
    }

    fn overlay(&mut self, e: Event<'_>) -> NodeEvent {
        match e {
            Event::Joined => {
                for a in self.joins.drain(..) {
                    a(Ok(()));
                }
                NodeEvent::Joined
            }
            Event::JoinFailed => {
                for a in self.joins.drain(..) {
                    a(Err(Failure::JoinFailed));
                }
                NodeEvent::JoinFailed
            }
            Event::Deliver(d) => NodeEvent::Deliver {
                key: d.key,
                app: d.app,
                source: d.source,
                msg_id: d.msg_id,
                hops: d.hops,
                payload: d.payload.to_vec(),
            },
            Event::Update { peer, joined } => NodeEvent::Neighbour { peer, joined },
            Event::RouteFailed { msg_id, key, app } => NodeEvent::RouteFailed { msg_id, key, app },
            Event::Secured(s) => NodeEvent::Secured {
                op: s.op,
                key: s.key,
                roots: s.roots.iter().collect(),
                redundant: s.redundant,
            },
        }
    }

    /// Answers a subscribe at once if the node is on the tree already,
    /// else when it attaches.
    fn subscribed<S: Store, A: Acceptor, F: Forwarder, const POOL: usize, U: Application>(
        &mut self,
        stack: &Stack<S, A, F, POOL, U>,
        group: Id,
        done: Result<(), ScribeError>,
        a: Answer<()>,
    ) {
        match done {
            Ok(()) if stack.scribe().group(group).is_some_and(|g| g.attached()) => a(Ok(())),
            Ok(()) => self.subscribes.entry(group).or_default().push(a),
            Err(e) => a(Err(Failure::Scribe(e))),
        }
    }

    /// A fetch started for the hosted application.
    pub fn fetch(&mut self, op: OpId, key: Id) {
        self.fetching.insert(op, key);
    }

    /// Fetches in flight, or answered and not yet taken.
    pub fn fetches(&self) -> usize {
        self.fetching.len() + self.fetched.len()
    }

    /// The next fetch answered: the key, and its value if found.
    pub fn take_fetched(&mut self) -> Option<(Id, Option<Vec<u8>>)> {
        self.fetched.pop_front()
    }

    fn dht(&mut self, d: DhtEvent<'_>) {
        let op = d.op();
        if let Some(key) = self.fetching.remove(&op) {
            let value = match d {
                DhtEvent::Found { value, .. } => Some(value.to_vec()),
                _ => None,
            };
            self.fetched.push_back((key, value));
            return;
        }
        let Some(w) = self.ops.remove(&op) else {
            return;
        };
        match (d, w) {
            (DhtEvent::Stored { replicas, .. }, Waiting::Put(a)) => a(Ok(replicas)),
            (DhtEvent::Stored { replicas, .. }, Waiting::PutContent(key, a)) => {
                a(Ok((key, replicas)));
            }
            (DhtEvent::PutFailed { error, .. }, w) => w.fail(Failure::Put(error)),
            (
                DhtEvent::Found {
                    version,
                    cached,
                    value,
                    ..
                },
                Waiting::Get(a),
            ) => a(Ok(Some(Value {
                version,
                cached,
                bytes: value.to_vec(),
            }))),
            (DhtEvent::NotFound { .. }, Waiting::Get(a)) => a(Ok(None)),
            (DhtEvent::Disputed { .. }, w) => w.fail(Failure::Disputed),
            // A timeout, or an outcome of the other kind (an id reused
            // across kinds cannot happen; answering beats hanging).
            (_, w) => w.fail(Failure::TimedOut),
        }
    }

    fn scribe(&mut self, s: ScribeEvent<'_>) -> Option<NodeEvent> {
        match s {
            ScribeEvent::Attached { group } => {
                for a in self.subscribes.remove(&group).unwrap_or_default() {
                    a(Ok(()));
                }
                Some(NodeEvent::Attached { group })
            }
            ScribeEvent::Delivered { group, id, data } => Some(NodeEvent::Multicast {
                group,
                id,
                data: data.to_vec(),
            }),
            ScribeEvent::AnycastTaken {
                group,
                origin,
                data,
            } => Some(NodeEvent::Anycast {
                group,
                origin,
                data: data.to_vec(),
            }),
            ScribeEvent::AnycastAccepted { op, by, .. } => {
                if let Some(a) = self.anycasts.remove(&op) {
                    a(Ok(by));
                }
                None
            }
            ScribeEvent::AnycastFailed { op, error, .. } => {
                if let Some(a) = self.anycasts.remove(&op) {
                    a(Err(Failure::Anycast(error)));
                }
                None
            }
        }
    }
}
