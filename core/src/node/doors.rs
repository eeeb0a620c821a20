//! The node's doors: datagrams out (sealed in their sessions, or parked
//! until a handshake with their destination completes), events out, the
//! deadline, and datagrams in (opened, their sender's address believed
//! only once verified). The run loop drives these; everything else in the
//! node is a consequence of them.

use core::net::SocketAddr;

use super::app::Forwarder;
use super::event::{Delivery, Ev, Event, Transmit};
use super::outbox::Out;
use super::pool::SlotState;
use super::{Node, Payload, Phase};
use crate::app::Output;
use crate::peer::Peer;
use crate::session::{Opened, TRAILER_BYTES};
use crate::time::Instant;
use crate::wire::{EncodeError, Kind, Message, PeerList};

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    // ----- output doors -----

    /// The next datagram to send, encoded into `buf` (which should hold
    /// `config.max_datagram` bytes). `Ok(None)` when there is nothing to
    /// send. A buffer that is too small is refused with the size needed and
    /// the datagram stays queued.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Result<Option<Transmit>, EncodeError> {
        if !self.config.verify_peers {
            return self.poll_transmit_unsealed(buf);
        }
        // Handshakes first: what is parked waits for them.
        if let Some((destination, len, kind)) = self.guard.poll_transmit(self.routing.own(), buf)? {
            self.stats.count_sent(kind);
            return Ok(Some(Transmit { destination, len }));
        }
        while let Some(out) = self.outbox.front().copied() {
            let Some(to) = self.destination(&out) else {
                // Stale: its slot moved on.
                self.outbox.pop_front();
                continue;
            };
            // A receipt goes unsealed, with a session or without: it proves
            // itself (wire::Receipt), and its source may be no neighbour.
            let sealed = !matches!(out, Out::Receipt { .. });
            if sealed && !self.guard.has_session(to) {
                self.outbox.pop_front();
                self.park(out, to);
                if let Some((destination, len, kind)) =
                    self.guard.poll_transmit(self.routing.own(), buf)?
                {
                    self.stats.count_sent(kind);
                    return Ok(Some(Transmit { destination, len }));
                }
                continue;
            }
            let room = buf.len().saturating_sub(TRAILER_BYTES);
            let encoded = match self.encode_out(&out, &mut buf[..room]) {
                Err(EncodeError::BufferTooSmall { needed }) => {
                    return Err(EncodeError::BufferTooSmall {
                        needed: needed + TRAILER_BYTES,
                    });
                }
                other => other?,
            };
            self.outbox.pop_front();
            if let Some((destination, len, kind)) = encoded {
                let len = match sealed {
                    true => self.guard.seal(self.now, destination, buf, len),
                    false => Some(len),
                };
                let Some(len) = len else {
                    debug_assert!(false, "a session checked above and room reserved");
                    continue;
                };
                self.stats.count_sent(kind);
                return Ok(Some(Transmit { destination, len }));
            }
        }
        Ok(None)
    }

    /// The insecure overlay's output (`Config::verify_peers` off): every
    /// datagram as it is, to whoever it is for.
    fn poll_transmit_unsealed(&mut self, buf: &mut [u8]) -> Result<Option<Transmit>, EncodeError> {
        while let Some(out) = self.outbox.front().copied() {
            let encoded = self.encode_out(&out, buf)?;
            self.outbox.pop_front();
            if let Some((destination, len, kind)) = encoded {
                self.stats.count_sent(kind);
                return Ok(Some(Transmit { destination, len }));
            }
        }
        Ok(None)
    }

    /// Bytes a datagram carries after its message.
    pub(crate) fn trailer(&self) -> usize {
        if self.config.verify_peers {
            TRAILER_BYTES
        } else {
            0
        }
    }

    /// Holds `out` until a handshake with `to` completes (started here,
    /// or once one of those under way ends); drops it, counted, when the
    /// parking is full.
    fn park(&mut self, out: Out, to: SocketAddr) {
        if self.parked.push_back(out).is_err() {
            self.stats.transmits_dropped += 1;
            return;
        }
        if !self.guard.connect(self.now, to) {
            self.unconnected = true;
        }
    }

    /// Starts handshakes for parked datagrams that wait for a free
    /// handshake slot.
    fn connect_parked(&mut self) {
        self.unconnected = false;
        for j in 0..self.parked.len() {
            if !self.guard.can_connect() {
                self.unconnected = true;
                return;
            }
            let Some(to) = self.parked.iter().nth(j).and_then(|o| self.destination(o)) else {
                continue;
            };
            if !self.guard.has_session(to) && !self.guard.connecting(to) {
                self.guard.connect(self.now, to);
            }
        }
    }

    /// The next event. A delivery's payload borrows the node until the next
    /// call on it.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        self.release_lent();
        let mut ev = self.events.pop_front()?;
        // A lookup's outcome that is gone (never, but cheap to skip).
        while let Ev::Secured(id) = ev {
            #[cfg(feature = "secure-routing")]
            if self.secure_ops_done(id) {
                return self.lend_secured(id).map(Event::Secured);
            }
            let _ = id;
            ev = self.events.pop_front()?;
        }
        Some(match ev {
            Ev::Joined => Event::Joined,
            Ev::JoinFailed => Event::JoinFailed,
            Ev::Update { peer, joined } => Event::Update { peer, joined },
            Ev::RouteFailed { msg_id, key, app } => Event::RouteFailed { msg_id, key, app },
            Ev::Secured(_) => return None,
            Ev::Deliver(r) => {
                self.lent = Some(r);
                let Some(s) = self.pool.get(r) else {
                    // A delivery's slot is only freed once lent; cannot be stale.
                    debug_assert!(false, "delivery slot vanished");
                    return None;
                };
                Event::Deliver(Delivery {
                    key: s.key,
                    app: s.app,
                    source: s.source,
                    msg_id: s.msg_id,
                    hops: s.hops,
                    authenticated: s.authenticated,
                    signature: self.pool.signature(r).copied(),
                    payload: self.pool.payload(r),
                })
            }
        })
    }

    /// Like [`Node::poll_event`], but a delivery's payload is copied into
    /// `buf`, so the event borrows `buf` and not the node: an application
    /// layer (the DHT, Scribe) can act on the node while handling it.
    pub fn poll_event_into<'b>(&mut self, buf: &'b mut Payload) -> Option<Event<'b>> {
        buf.clear();
        let ev = match self.poll_event()? {
            Event::Deliver(d) => {
                // Fits: a slot's payload has the same capacity.
                let _ = buf.extend_from_slice(d.payload);
                Ok(Delivery { payload: &[], ..d })
            }
            Event::Joined => Err(Event::Joined),
            Event::JoinFailed => Err(Event::JoinFailed),
            Event::Update { peer, joined } => Err(Event::Update { peer, joined }),
            Event::RouteFailed { msg_id, key, app } => Err(Event::RouteFailed { msg_id, key, app }),
            Event::Secured(s) => {
                // The roots, encoded as on the wire, into `buf`.
                let count = crate::wire::encode_peers(s.roots.iter(), buf);
                Err(Event::Secured(crate::node::Secured {
                    roots: PeerList::Encoded { count, bytes: &[] },
                    ..s
                }))
            }
        };
        self.release_lent();
        Some(match ev {
            Ok(d) => Event::Deliver(Delivery { payload: buf, ..d }),
            Err(Event::Secured(s)) => Event::Secured(crate::node::Secured {
                roots: s.roots.with_bytes(buf),
                ..s
            }),
            Err(e) => e,
        })
    }

    /// The one output door: the next datagram to send (encoded into `buf`,
    /// as [`Node::poll_transmit`]), else the next event (as
    /// [`Node::poll_event`]), else the next deadline
    /// ([`Output::Timeout`], which ends a drain). Call it after every input
    /// until it answers `Timeout`.
    pub fn poll_output(&mut self, buf: &mut [u8]) -> Result<Output<Event<'_>>, EncodeError> {
        if let Some(tx) = self.poll_transmit(buf)? {
            return Ok(Output::Transmit(tx));
        }
        // Read first: the event borrows the node.
        let deadline = self.poll_timeout();
        Ok(match self.poll_event() {
            Some(ev) => Output::Event(ev),
            None => Output::Timeout(deadline),
        })
    }

    /// When the node next wants [`Node::handle_timeout`], if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Idle and Left nodes run nothing: a deadline here would spin a
        // runtime that calls `handle_timeout` for it.
        if matches!(self.phase, Phase::Idle | Phase::Left) {
            return None;
        }
        let mut next = self
            .timers
            .iter()
            .copied()
            .min()
            .filter(|&t| t != Instant::MAX);
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        if let Some(t) = self.guard.poll_timeout() {
            consider(t);
        }
        if let Some(t) = self.probes.next_deadline() {
            consider(t);
        }
        for (_, s) in self.pool.in_use() {
            match s.state {
                SlotState::Awaiting { deadline, .. }
                | SlotState::Buffered { deadline }
                | SlotState::Custody { deadline } => consider(deadline),
                _ => {}
            }
        }
        if let Some(t) = self.right_watch_deadline() {
            consider(t);
        }
        #[cfg(feature = "secure-routing")]
        if let Some(t) = self.secure_deadline() {
            consider(t);
        }
        next
    }

    // ----- input doors -----

    /// Feeds one inbound datagram from `from`. Anything that is not a valid
    /// message for this node is counted and dropped; it never panics and
    /// leaves the node's state as it was.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.advance(now);
        if bytes.len() > self.config.max_datagram {
            self.stats.drops.oversized += 1;
            return;
        }
        if matches!(self.phase, Phase::Idle | Phase::Left) {
            self.stats.drops.not_active += 1;
            return;
        }
        if !self.config.verify_peers || bytes.get(3) == Some(&(Kind::Receipt as u8)) {
            self.on_unsealed(from, bytes);
            return;
        }
        let routing = &self.routing;
        let member = |id| routing.holds(id);
        let opened = self.guard.open_keeping(self.now, from, bytes, member);
        let (sender, bytes) = match opened {
            Opened::Authentic { sender, message } => (sender, message),
            Opened::Handshake => {
                if let Some(k) = bytes.get(3).and_then(|&k| Kind::from_u8(k)) {
                    self.stats.count_received(k);
                }
                self.after_handshakes();
                return;
            }
            Opened::Unverified { id } => {
                self.stats.drops.unauthenticated += 1;
                // A member that lost its session (it restarted, or this
                // node pushed the session out): greet it at its address.
                // Anyone else, a member's id from another address included,
                // is told in fewer bytes than it sent that its session is
                // stale here: a peer greets again (a member that moved
                // proves its new address so), and a spoofer's victim, or
                // the spoofer, gets no more than was sent.
                let known = self.routing.member(id);
                if id == self.own().id {
                } else if known.is_some_and(|p| p.addr == from) {
                    self.guard.reconnect(self.now, from);
                } else {
                    self.guard.tell_stale(self.now, from, bytes.len());
                }
                return;
            }
            Opened::Dropped => {
                self.stats.drops.unauthenticated += 1;
                return;
            }
        };
        let Some(mut msg) = self.decode_checked(bytes) else {
            return;
        };
        // The address that answered the challenge, not the one claimed.
        msg.sender = sender;
        // Its first datagram may have confirmed a handshake.
        self.after_handshakes();
        self.stats.count_received(msg.body.kind());
        self.on_message(from, msg);
    }

    /// A member verified at a new address is reached there from now on.
    fn readdress(&mut self, peer: Peer) {
        if let Some(old) = self.routing.leaf_set().get(peer.id).copied() {
            if old.addr != peer.addr {
                self.routing.leaf_set_mut().remove(peer.id);
                self.routing.leaf_set_mut().insert(peer);
            }
        }
        self.routing.table_mut().readdress(peer);
    }

    /// The insecure overlay's input (`Config::verify_peers` off): the
    /// datagram is believed as it claims.
    fn on_unsealed(&mut self, from: SocketAddr, bytes: &[u8]) {
        let Some(msg) = self.decode_checked(bytes) else {
            return;
        };
        self.stats.count_received(msg.body.kind());
        self.on_message(from, msg);
    }

    /// The message in `bytes`, unless it does not decode, claims this
    /// node's id, or is a handshake kind outside the handshake (counted).
    fn decode_checked<'b>(&mut self, bytes: &'b [u8]) -> Option<Message<'b>> {
        let msg = match Message::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.count_decode_error(e);
                return None;
            }
        };
        if msg.sender.id == self.own().id || msg.body.kind().is_handshake() {
            self.stats.drops.unsolicited += 1;
            return None;
        }
        Some(msg)
    }

    /// Moves datagrams parked for newly verified peers back to the
    /// outbox, and drops those for addresses that never answered.
    fn after_handshakes(&mut self) {
        let mut ended = false;
        while let Some(peer) = self.guard.take_verified() {
            ended = true;
            let mut n = self.parked.len();
            while n > 0 {
                n -= 1;
                let Some(out) = self.parked.pop_front() else {
                    break;
                };
                if self.destination(&out) == Some(peer.addr) {
                    if self.outbox.push_back(out).is_err() {
                        self.stats.transmits_dropped += 1;
                    }
                } else {
                    let _ = self.parked.push_back(out);
                }
            }
            self.readdress(peer);
            // What waited for the handshake measures its round trip from now.
            self.probes.restart_clock(peer.addr, self.now);
            self.pool.restart_clocks(peer.addr, self.now);
        }
        while let Some(addr) = self.guard.take_failed() {
            ended = true;
            let before = self.parked.len();
            let mut n = before;
            while n > 0 {
                n -= 1;
                let Some(out) = self.parked.pop_front() else {
                    break;
                };
                if self.destination(&out) != Some(addr) {
                    let _ = self.parked.push_back(out);
                }
            }
            self.stats.transmits_dropped += (before - self.parked.len()) as u64;
        }
        if (ended || self.unconnected) && !self.parked.is_empty() && self.guard.can_connect() {
            self.connect_parked();
        }
    }

    /// Runs whatever is due at `now`: timers, probe and ack timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if matches!(self.phase, Phase::Idle | Phase::Left) {
            return;
        }
        self.guard.handle_timeout(self.now);
        self.after_handshakes();
        self.run_timers();
        self.run_probe_timeouts();
        self.run_slot_timeouts();
        #[cfg(feature = "secure-routing")]
        self.run_secure_timeouts();
        self.run_right_watch();
    }
}
