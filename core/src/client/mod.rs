//! Client mode: a peer that does not join the overlay (a constrained or
//! short-lived one) sends requests to any member, which carries them out
//! with its own node, DHT and Scribe and returns the answer.
//!
//! Two halves, both sans-IO:
//! * [`Gateway`], the member's side, built into every
//!   [`Stack`](crate::Stack): client datagrams (magic `"PC"`, see [`msg`])
//!   arriving on the member's socket become commands, their outcomes
//!   become replies, and a client's subscription makes the member relay
//!   the group's publications to it for a lease.
//! * [`Client`], the client's side: request ids, retransmission until an
//!   answer (requests are idempotent except route and publish, which a
//!   lost reply may repeat), lease renewal for subscriptions, and events.
//!
//! A client trusts its member: the member could answer anything. Content
//! keys let a client check a value itself (`Id::sha1(value) == key`).

mod gateway;
pub mod msg;

use core::net::SocketAddr;
use core::time::Duration;

use heapless::{Deque, Vec};

pub use gateway::{Gateway, GatewayStats, MAX_PENDING, MAX_RELAYS, MAX_REPLY};
pub use msg::{Frame, Refusal, Reply, Request, ttl_secs};

use crate::id::Id;
use crate::node::Transmit;
use crate::rng::SmallRng;
use crate::time::Instant;
use crate::wire::EncodeError;

/// The client's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// A request with no answer is sent again after this long ...
    pub retry: Duration,
    /// ... up to this many times in all, then reported timed out. The
    /// defaults outlast the DHT's operation timeout.
    pub tries: u8,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            retry: Duration::from_secs(2),
            tries: 20,
        }
    }
}

/// A request the client could not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// `PENDING` requests are waiting for answers.
    Busy,
    /// The request does not fit in one datagram.
    TooLarge {
        /// The largest request.
        max: usize,
    },
    /// The client follows `SUBS` groups already.
    TooManyGroups,
}

impl core::fmt::Display for ClientError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClientError::Busy => f.write_str("too many requests waiting"),
            ClientError::TooLarge { max } => write!(f, "request over {max} bytes"),
            ClientError::TooManyGroups => f.write_str("following too many groups"),
        }
    }
}

impl core::error::Error for ClientError {}

/// What the client tells its application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent<'a> {
    /// The member answered request `req`.
    Answer {
        /// The request.
        req: u64,
        /// The answer.
        reply: Reply<'a>,
    },
    /// A publication to a group the client follows.
    Multicast {
        /// The group.
        group: Id,
        /// The publication's id.
        id: u64,
        /// Its bytes.
        data: &'a [u8],
    },
    /// Request `req` got no answer after every try.
    TimedOut {
        /// The request.
        req: u64,
    },
}

#[derive(Debug)]
struct Outstanding {
    req: u64,
    bytes: Vec<u8, MAX_REPLY>,
    /// When to send (again); `None` once sent and no retry is due yet.
    due: Option<Instant>,
    next_try: Instant,
    tries_left: u8,
}

#[derive(Clone, Copy, Debug)]
struct Following {
    group: Id,
    /// The last subscribe sent for it.
    req: u64,
    /// When to renew the lease (after a `Subscribed`, a third of it).
    renew: Option<Instant>,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests sent, retransmissions included.
    pub sent: u64,
    /// Replies taken.
    pub answers: u64,
    /// Datagrams that were not a reply to a waiting request (late, from
    /// another address, or malformed).
    pub ignored: u64,
    /// Events dropped because the application had not polled the previous
    /// one (the drain rule).
    pub events_dropped: u64,
}

/// The client's side (see the module docs): `PENDING` requests waiting
/// at once, `SUBS` groups followed.
#[derive(Debug)]
pub struct Client<const PENDING: usize = 16, const SUBS: usize = 8> {
    member: SocketAddr,
    config: ClientConfig,
    rng: SmallRng,
    now: Instant,
    pending: Vec<Outstanding, PENDING>,
    following: Vec<Following, SUBS>,
    /// The last reply datagram, lent out by `poll_event`.
    last: Vec<u8, MAX_REPLY>,
    last_ready: bool,
    timed_out: Deque<u64, PENDING>,
    stats: ClientStats,
}

impl<const PENDING: usize, const SUBS: usize> Client<PENDING, SUBS> {
    /// A client of the member at `member`; request ids derive from `seed`.
    pub fn new(member: SocketAddr, config: ClientConfig, seed: u64) -> Self {
        Client {
            member,
            config,
            rng: SmallRng::new(seed),
            now: Instant::ZERO,
            pending: Vec::new(),
            following: Vec::new(),
            last: Vec::new(),
            last_ready: false,
            timed_out: Deque::new(),
            stats: ClientStats::default(),
        }
    }

    /// The member requests go to.
    pub fn member(&self) -> SocketAddr {
        self.member
    }

    /// Sends every waiting request (and later renewals) to another member,
    /// say after the first stopped answering.
    pub fn set_member(&mut self, member: SocketAddr) {
        self.member = member;
        for p in &mut self.pending {
            p.due = Some(self.now);
        }
    }

    /// Counters.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Requests waiting for an answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    /// Sends `request`; its id, which the answer names.
    pub fn request(&mut self, now: Instant, request: Request<'_>) -> Result<u64, ClientError> {
        let now = self.advance(now);
        if self.pending.is_full() {
            return Err(ClientError::Busy);
        }
        let req = loop {
            let r = self.rng.next_u64();
            if r != 0 && !self.pending.iter().any(|p| p.req == r) {
                break r;
            }
        };
        let frame = Frame::Request(req, request);
        let mut bytes = Vec::new();
        let too_large = ClientError::TooLarge {
            max: MAX_REPLY - (frame.encoded_len() - payload_len(&request)),
        };
        bytes
            .resize(frame.encoded_len(), 0)
            .map_err(|_| too_large)?;
        frame.encode(&mut bytes).map_err(|_| too_large)?;
        let out = Outstanding {
            req,
            bytes,
            due: Some(now),
            next_try: now,
            tries_left: self.config.tries.max(1),
        };
        // Room was checked above.
        let _ = self.pending.push(out);
        Ok(req)
    }

    /// Follows `group`: the member relays its publications as
    /// [`ClientEvent::Multicast`], and the client renews the lease until
    /// [`Client::unsubscribe`]. The subscribe's answer comes as an event
    /// once the member is on the group's tree, so a publication sent after
    /// it reaches this client.
    pub fn subscribe(&mut self, now: Instant, group: Id) -> Result<u64, ClientError> {
        if !self.following.iter().any(|f| f.group == group) {
            let f = Following {
                group,
                req: 0,
                renew: None,
            };
            self.following
                .push(f)
                .map_err(|_| ClientError::TooManyGroups)?;
        }
        match self.request(now, Request::Subscribe { group }) {
            Ok(req) => {
                self.follow(group, req, None);
                Ok(req)
            }
            Err(e) => {
                self.following.retain(|f| f.group != group);
                Err(e)
            }
        }
    }

    fn follow(&mut self, group: Id, req: u64, renew: Option<Instant>) {
        if let Some(f) = self.following.iter_mut().find(|f| f.group == group) {
            f.req = req;
            f.renew = renew;
        }
    }

    /// Stops following `group`.
    pub fn unsubscribe(&mut self, now: Instant, group: Id) -> Result<u64, ClientError> {
        self.following.retain(|f| f.group != group);
        self.request(now, Request::Unsubscribe { group })
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let now = self.advance(now);
        let Ok(Frame::Reply(req, reply)) = Frame::decode(bytes) else {
            self.stats.ignored += 1;
            return;
        };
        if from != self.member {
            self.stats.ignored += 1;
            return;
        }
        match reply {
            Reply::Multicast { group, .. } => {
                if !self.following.iter().any(|f| f.group == group) {
                    self.stats.ignored += 1;
                    return;
                }
            }
            _ => {
                let Some(i) = self.pending.iter().position(|p| p.req == req) else {
                    self.stats.ignored += 1;
                    return;
                };
                self.pending.swap_remove(i);
                self.stats.answers += 1;
                if let Reply::Subscribed { lease_ms } = reply {
                    let lease = Duration::from_millis(u64::from(lease_ms));
                    if let Some(f) = self.following.iter_mut().find(|f| f.req == req) {
                        f.renew = Some(now + lease / 3);
                    }
                }
            }
        }
        if self.last_ready {
            self.stats.events_dropped += 1;
        }
        self.last.clear();
        // A decoded reply fits: it came in a datagram no larger.
        self.last_ready = self.last.extend_from_slice(bytes).is_ok();
    }

    /// When the client next wants [`Client::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        // A request due to be sent waits for poll_transmit, not a tick.
        let retries = self
            .pending
            .iter()
            .filter(|p| p.due.is_none())
            .map(|p| p.next_try);
        let renewals = self.following.iter().filter_map(|f| f.renew);
        retries.chain(renewals).min()
    }

    /// Retries, gives up, and renews leases as due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if p.due.is_none() && p.next_try <= now {
                if p.tries_left == 0 {
                    let req = p.req;
                    self.pending.swap_remove(i);
                    let _ = self.timed_out.push_back(req);
                    // A lost subscribe is tried again later.
                    let retry = now + self.config.retry;
                    for f in self.following.iter_mut().filter(|f| f.req == req) {
                        f.renew = Some(retry);
                    }
                    continue;
                }
                p.due = Some(now);
            }
            i += 1;
        }
        for k in 0..self.following.len() {
            let f = self.following[k];
            if f.renew.is_some_and(|t| t <= now) {
                match self.request(now, Request::Subscribe { group: f.group }) {
                    Ok(req) => self.follow(f.group, req, None),
                    // A full table: try again a little later.
                    Err(_) => self.follow(f.group, f.req, Some(now + self.config.retry)),
                }
            }
        }
    }

    /// The next datagram to send, copied into `buf` (at least
    /// [`MAX_REPLY`] bytes, or the request's size).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Result<Option<Transmit>, EncodeError> {
        let now = self.now;
        let Some(p) = self.pending.iter_mut().find(|p| p.due.is_some()) else {
            return Ok(None);
        };
        let len = p.bytes.len();
        let dst = buf
            .get_mut(..len)
            .ok_or(EncodeError::BufferTooSmall { needed: len })?;
        dst.copy_from_slice(&p.bytes);
        p.due = None;
        p.tries_left = p.tries_left.saturating_sub(1);
        p.next_try = now + self.config.retry;
        self.stats.sent += 1;
        Ok(Some(Transmit {
            destination: self.member,
            len,
        }))
    }

    /// The next event; it borrows the client until the next call.
    pub fn poll_event(&mut self) -> Option<ClientEvent<'_>> {
        if let Some(req) = self.timed_out.pop_front() {
            return Some(ClientEvent::TimedOut { req });
        }
        if !self.last_ready {
            return None;
        }
        self.last_ready = false;
        match Frame::decode(&self.last) {
            Ok(Frame::Reply(_, Reply::Multicast { group, id, data })) => {
                Some(ClientEvent::Multicast { group, id, data })
            }
            Ok(Frame::Reply(req, reply)) => Some(ClientEvent::Answer { req, reply }),
            // Only decoded replies are kept.
            _ => None,
        }
    }
}

/// The bytes of a request's variable part.
fn payload_len(r: &Request<'_>) -> usize {
    match r {
        Request::Put { value, .. } | Request::PutContent { value, .. } => value.len(),
        Request::Route { payload, .. } => payload.len(),
        Request::Publish { data, .. } | Request::Anycast { data, .. } => data.len(),
        Request::Get { .. }
        | Request::Delete { .. }
        | Request::Subscribe { .. }
        | Request::Unsubscribe { .. } => 0,
    }
}
