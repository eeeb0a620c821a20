//! The member's side of client mode: a request from a client that is not
//! in the overlay becomes a command of this member's node, DHT or Scribe,
//! and the outcome goes back to the client as a reply. Bounded: requests
//! in flight, relayed groups and queued replies each have a capacity; a
//! request beyond them is refused, a reply beyond them is dropped and
//! counted (the client asks again).

use core::net::SocketAddr;
use core::time::Duration;

use heapless::{Deque, Vec};

use super::msg::{Frame, Refusal, Reply, Request};
use crate::dht::quota::Quotas;
use crate::dht::{Dht, DhtError, DhtEvent, OpId, PutError, Store};
use crate::id::Id;
use crate::node::{CommandError, Kbr, Transmit};
use crate::scribe::{Acceptor, AnycastError, AnycastId, Scribe, ScribeError, ScribeEvent};
use crate::time::Instant;

/// Client requests a member works on at once.
pub const MAX_PENDING: usize = 32;
/// (client, group) pairs a member relays publications for.
pub const MAX_RELAYS: usize = 16;
/// Replies waiting to be sent.
const MAX_OUT: usize = 8;
/// The largest reply (a value or publication with its header).
pub const MAX_REPLY: usize = 1_280;

/// Counters of the member's client service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GatewayStats {
    /// Requests taken.
    pub requests: u64,
    /// Requests refused at once (busy, not active, too large, no room).
    pub refused: u64,
    /// Client datagrams that did not decode, or were replies.
    pub malformed: u64,
    /// Requests already in flight (a client's retransmission).
    pub duplicates: u64,
    /// Puts refused because the client's host was over its quota.
    pub over_quota: u64,
    /// Replies sent.
    pub replies: u64,
    /// Replies dropped because the reply queue was full.
    pub replies_dropped: u64,
    /// Publications relayed to clients.
    pub relayed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiting {
    Op(OpId),
    Anycast(AnycastId),
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    client: SocketAddr,
    req: u64,
    waiting: Waiting,
}

#[derive(Clone, Copy, Debug)]
struct Relay {
    client: SocketAddr,
    req: u64,
    group: Id,
    until: Instant,
    /// The member has a way to the group's root, so the client was told
    /// `Subscribed`: a reply before that would promise publications the
    /// tree cannot yet bring.
    attached: bool,
}

/// A client host's key for its quota: its address without the port.
fn host_key(from: SocketAddr) -> Id {
    match from.ip() {
        core::net::IpAddr::V4(ip) => Id::sha1(&ip.octets()),
        core::net::IpAddr::V6(ip) => Id::sha1(&ip.octets()),
    }
}

/// The member side of client mode (see the module docs).
#[derive(Debug)]
pub struct Gateway {
    pending: Vec<Pending, MAX_PENDING>,
    relays: Vec<Relay, MAX_RELAYS>,
    out: Deque<(SocketAddr, Vec<u8, MAX_REPLY>), MAX_OUT>,
    /// Groups the member's own application joined: kept when relays end,
    /// and their publications still go to the application.
    own_groups: Vec<Id, MAX_RELAYS>,
    lease: Duration,
    /// Put allowances by client host ([`Gateway::host_key`]).
    quotas: Quotas,
    stats: GatewayStats,
}

impl Gateway {
    /// A gateway relaying groups for `lease` after each subscribe.
    pub fn new(lease: Duration) -> Gateway {
        Gateway {
            pending: Vec::new(),
            relays: Vec::new(),
            out: Deque::new(),
            own_groups: Vec::new(),
            lease,
            quotas: Quotas::default(),
            stats: GatewayStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// Requests in flight.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Clients' group subscriptions being relayed.
    pub fn relays(&self) -> usize {
        self.relays.len()
    }

    /// Whether a client follows `group` through this member.
    pub fn relays_group(&self, group: Id) -> bool {
        self.relays.iter().any(|r| r.group == group)
    }

    /// The member's application joined or left `group` itself.
    pub(crate) fn own_group(&mut self, group: Id, member: bool) {
        self.own_groups.retain(|g| *g != group);
        if member {
            // More own groups than relay slots: the extra ones are only
            // not protected from a relay's expiry; Scribe refuses first.
            let _ = self.own_groups.push(group);
        }
    }

    fn reply(&mut self, to: SocketAddr, req: u64, reply: Reply<'_>) {
        let frame = Frame::Reply(req, reply);
        let mut bytes = Vec::new();
        // The reply buffer holds the largest datagram; a frame that does
        // not fit (a bigger max_datagram) is refused in a small reply.
        let fits = bytes.resize(frame.encoded_len(), 0).is_ok();
        let ok = fits && frame.encode(&mut bytes).is_ok();
        if !ok {
            let refused = Reply::Refused {
                reason: Refusal::TooLarge,
                detail: MAX_REPLY as u64,
            };
            return self.reply(to, req, refused);
        }
        match self.out.push_back((to, bytes)) {
            Ok(()) => self.stats.replies += 1,
            Err(_) => self.stats.replies_dropped += 1,
        }
    }

    fn refuse(&mut self, to: SocketAddr, req: u64, reason: Refusal, detail: u64) {
        self.stats.refused += 1;
        self.reply(to, req, Reply::Refused { reason, detail });
    }

    /// A client datagram arrived.
    pub(crate) fn handle_datagram<S: Store, A: Acceptor>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        apps: (&mut impl Kbr, &mut Dht<S>, &mut Scribe<A>),
    ) {
        let (node, dht, scribe) = apps;
        let (req, request) = match Frame::decode(bytes) {
            Ok(Frame::Request(req, q)) => (req, q),
            Ok(Frame::Reply(..)) | Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        if self
            .pending
            .iter()
            .any(|p| p.client == from && p.req == req)
        {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.requests += 1;
        let needs_slot = matches!(
            request,
            Request::Put { .. }
                | Request::PutContent { .. }
                | Request::Delete { .. }
                | Request::Get { .. }
                | Request::Anycast { .. }
        );
        if needs_slot && self.pending.is_full() {
            return self.refuse(from, req, Refusal::Busy, 0);
        }
        let is_put = matches!(
            request,
            Request::Put { .. } | Request::PutContent { .. } | Request::Delete { .. }
        );
        if is_put
            && !self
                .quotas
                .take(dht.config().client_quota, host_key(from), now)
        {
            // The roots see this member as the client: its clients share
            // its quota there, so each client host gets one here, by
            // address without the port (a flood from many ports of one
            // host is one client).
            self.stats.over_quota += 1;
            return self.refuse(from, req, Refusal::OverQuota, 0);
        }
        let wait = |waiting| Pending {
            client: from,
            req,
            waiting,
        };
        let started = match request {
            Request::Put {
                key,
                version,
                ttl_secs,
                value,
            } => dht
                .put_for((now, node), (key, version), value, ttl(ttl_secs))
                .map(|op| wait(Waiting::Op(op))),
            Request::PutContent { ttl_secs, value } => dht
                .put_content_for((now, node), value, ttl(ttl_secs))
                .map(|(_, op)| wait(Waiting::Op(op))),
            Request::Delete { key, version } => dht
                .delete(now, node, key, version)
                .map(|op| wait(Waiting::Op(op))),
            Request::Get { key, content } => {
                let op = if content {
                    dht.get_content(now, node, key)
                } else {
                    dht.get(now, node, key)
                };
                op.map(|op| wait(Waiting::Op(op)))
            }
            Request::Anycast { group, data } => match scribe.anycast(now, node, group, data) {
                Ok(op) => Ok(wait(Waiting::Anycast(op))),
                Err(e) => return self.refuse_scribe(from, req, e),
            },
            Request::Route { key, app, payload } => {
                match node.route(now, key, app, payload, None) {
                    Ok(id) => self.reply(from, req, Reply::Sent { id }),
                    Err(e) => self.refuse_command(from, req, e),
                }
                return;
            }
            Request::Publish { group, data } => {
                match scribe.publish(now, node, group, data) {
                    Ok(id) => self.reply(from, req, Reply::Sent { id }),
                    Err(e) => self.refuse_scribe(from, req, e),
                }
                return;
            }
            Request::Subscribe { group } => {
                return self.subscribe(now, from, req, group, (node, scribe));
            }
            Request::Unsubscribe { group } => {
                self.relays
                    .retain(|r| !(r.client == from && r.group == group));
                self.maybe_leave(now, group, node, scribe);
                return self.reply(from, req, Reply::Unsubscribed);
            }
        };
        match started {
            // Room was checked above.
            Ok(p) => drop(self.pending.push(p)),
            Err(e) => self.refuse_dht(from, req, e),
        }
    }

    fn subscribe<A: Acceptor>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        req: u64,
        group: Id,
        apps: (&mut impl Kbr, &mut Scribe<A>),
    ) {
        let (node, scribe) = apps;
        let until = now + self.lease;
        let lease_ms = self.lease_ms();
        if let Some(r) = self
            .relays
            .iter_mut()
            .find(|r| r.client == from && r.group == group)
        {
            r.until = until;
            r.req = req;
            // Not attached yet: the answer comes with `Attached`.
            if r.attached {
                self.reply(from, req, Reply::Subscribed { lease_ms });
            }
            return;
        }
        if self.relays.is_full() {
            return self.refuse(from, req, Refusal::NoRoom, 0);
        }
        if let Err(e) = scribe.subscribe(now, node, group) {
            return self.refuse_scribe(from, req, e);
        }
        let attached = scribe.group(group).is_some_and(|g| g.attached());
        let relay = Relay {
            client: from,
            req,
            group,
            until,
            attached,
        };
        // Room was checked above.
        let _ = self.relays.push(relay);
        if attached {
            self.reply(from, req, Reply::Subscribed { lease_ms });
        }
    }

    fn lease_ms(&self) -> u32 {
        u32::try_from(self.lease.as_millis()).unwrap_or(u32::MAX)
    }

    /// The member reached `group`'s tree: the clients waiting for it are
    /// told they are subscribed.
    fn attached(&mut self, group: Id) {
        let lease_ms = self.lease_ms();
        for i in 0..self.relays.len() {
            let r = &mut self.relays[i];
            if r.group == group && !r.attached {
                r.attached = true;
                let (client, req) = (r.client, r.req);
                self.reply(client, req, Reply::Subscribed { lease_ms });
            }
        }
    }

    /// Leaves `group` once no client wants it and the application never
    /// joined it.
    fn maybe_leave<A: Acceptor>(
        &mut self,
        now: Instant,
        group: Id,
        node: &mut impl Kbr,
        scribe: &mut Scribe<A>,
    ) {
        let wanted = self.relays_group(group) || self.own_groups.contains(&group);
        if !wanted {
            let _ = scribe.unsubscribe(now, node, group);
        }
    }

    fn refuse_dht(&mut self, to: SocketAddr, req: u64, e: DhtError) {
        let (reason, detail) = match e {
            DhtError::NotActive => (Refusal::NotActive, 0),
            DhtError::ValueTooLarge { max } | DhtError::SaltTooLong { max } => {
                (Refusal::TooLarge, max as u64)
            }
            DhtError::Busy | DhtError::BadConfig => (Refusal::Busy, 0),
        };
        self.refuse(to, req, reason, detail);
    }

    fn refuse_scribe(&mut self, to: SocketAddr, req: u64, e: ScribeError) {
        let (reason, detail) = match e {
            ScribeError::NotActive => (Refusal::NotActive, 0),
            ScribeError::PayloadTooLarge { max } => (Refusal::TooLarge, max as u64),
            ScribeError::TooManyGroups | ScribeError::NotSubscribed => (Refusal::NoRoom, 0),
            ScribeError::Overlay(e) => return self.refuse_command(to, req, e),
            ScribeError::Busy | ScribeError::BadConfig => (Refusal::Busy, 0),
        };
        self.refuse(to, req, reason, detail);
    }

    fn refuse_command(&mut self, to: SocketAddr, req: u64, e: CommandError) {
        let (reason, detail) = match e {
            CommandError::NotActive | CommandError::AlreadyJoined => (Refusal::NotActive, 0),
            CommandError::PayloadTooLarge { max } => (Refusal::TooLarge, max as u64),
            _ => (Refusal::Busy, 0),
        };
        self.refuse(to, req, reason, detail);
    }

    fn take(&mut self, waiting: Waiting) -> Option<Pending> {
        let i = self.pending.iter().position(|p| p.waiting == waiting)?;
        Some(self.pending.swap_remove(i))
    }

    /// A DHT outcome: whether it was a client's (and is answered).
    pub(crate) fn take_dht(&mut self, ev: &DhtEvent<'_>) -> bool {
        let op = ev.op();
        let Some(p) = self.take(Waiting::Op(op)) else {
            return false;
        };
        let refused = |reason, detail| Reply::Refused { reason, detail };
        let reply = match *ev {
            DhtEvent::Stored { key, replicas, .. } => Reply::Stored { key, replicas },
            DhtEvent::PutFailed { error, .. } => match error {
                PutError::Stale { current } => refused(Refusal::Stale, current),
                PutError::Forged => refused(Refusal::Forged, 0),
                PutError::Protected => refused(Refusal::Protected, 0),
                PutError::OverQuota => refused(Refusal::OverQuota, 0),
                PutError::TimedOut { replicas } => refused(Refusal::TimedOut, u64::from(replicas)),
            },
            DhtEvent::Found {
                version,
                cached,
                value,
                ..
            } => Reply::Found {
                version,
                cached,
                value,
            },
            DhtEvent::NotFound { .. } => Reply::NotFound,
            DhtEvent::GetTimedOut { .. } | DhtEvent::Disputed { .. } => {
                refused(Refusal::TimedOut, 0)
            }
        };
        self.reply(p.client, p.req, reply);
        true
    }

    /// Scribe news: whether only clients wanted it (the application did
    /// not join the group, or the outcome is a client's anycast).
    pub(crate) fn take_scribe(&mut self, ev: &ScribeEvent<'_>) -> bool {
        match *ev {
            ScribeEvent::AnycastAccepted { op, by, .. } => {
                let Some(p) = self.take(Waiting::Anycast(op)) else {
                    return false;
                };
                self.reply(p.client, p.req, Reply::Accepted { by });
                true
            }
            ScribeEvent::AnycastFailed { op, error, .. } => {
                let Some(p) = self.take(Waiting::Anycast(op)) else {
                    return false;
                };
                let reason = match error {
                    AnycastError::NoneAccepted => Refusal::NoneAccepted,
                    AnycastError::TimedOut => Refusal::TimedOut,
                };
                self.refuse(p.client, p.req, reason, 0);
                true
            }
            ScribeEvent::Delivered { group, id, data } => {
                for i in 0..self.relays.len() {
                    let r = self.relays[i];
                    if r.group == group {
                        self.stats.relayed += 1;
                        self.reply(r.client, r.req, Reply::Multicast { group, id, data });
                    }
                }
                !self.own_groups.contains(&group)
            }
            ScribeEvent::Attached { group } => {
                self.attached(group);
                !self.own_groups.contains(&group)
            }
            // Taken by this member: the member's application acts on it.
            ScribeEvent::AnycastTaken { .. } => false,
        }
    }

    /// When a lease next ends.
    #[inline]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.relays.iter().map(|r| r.until).min()
    }

    /// Ends the relays whose lease ran out.
    pub(crate) fn handle_timeout<A: Acceptor>(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        scribe: &mut Scribe<A>,
    ) {
        while let Some(i) = self.relays.iter().position(|r| r.until <= now) {
            let group = self.relays.swap_remove(i).group;
            self.maybe_leave(now, group, node, scribe);
        }
    }

    /// The next reply, copied into `buf`.
    #[inline]
    pub(crate) fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some((to, bytes)) = self.out.pop_front() {
            // A buffer smaller than the reply (a max_datagram below 1,280
            // bytes): the reply could not be sent anyway.
            let Some(dst) = buf.get_mut(..bytes.len()) else {
                self.stats.replies_dropped += 1;
                continue;
            };
            dst.copy_from_slice(&bytes);
            return Some(Transmit {
                destination: to,
                len: bytes.len(),
            });
        }
        None
    }
}

/// A request's time to live (0 on the wire: none).
fn ttl(secs: u32) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(u64::from(secs)))
}
