//! Verified admission and authenticated datagrams (DESIGN.md, trust
//! model): the layer between the wire and the overlay that decides what a
//! node believes.
//!
//! A peer is believed only after the handshake of [`crate::wire::handshake`]:
//! it signed a fresh nonce with the key its id is the hash of, from the
//! address it will be reached at, and passed the node's [`Admission`].
//! Both ends then share a key (X25519 of their Ed25519 keys, mixed with
//! the handshake's nonce and cookie), and every later datagram between
//! them carries a sequence number and a tag:
//!
//! ```text
//! message (header and body, as before) | sequence (8) | HMAC-SHA-256 tag, first 16 bytes
//! ```
//!
//! A datagram whose sender has no session, whose address is not the one
//! verified, whose tag is wrong or whose sequence number was seen is
//! counted and dropped, and the first two start a handshake with the
//! address it came from: a member's address changes only once the new
//! one has answered. Strangers get nothing but a Challenge no longer than
//! their Hello, and Challenges are rationed (a token bucket), because each
//! costs a signature.

mod handshake;
mod sealing;
mod table;

use crate::ration::Ration;
use core::net::SocketAddr;
use core::time::Duration;

use heapless::{Deque, Vec};

use crate::id::Id;
use crate::identity::{Admission, Identity, IdentityError, UnixTime};
use crate::peer::Peer;
use crate::time::Instant;
use crate::wire::handshake::{CHALLENGE_LABEL, CONFIRM_LABEL, Hello, NONCE_BYTES, Proof};
use crate::wire::{AppId, Body, EncodeError, Kind, Message};
pub(crate) use table::{Session, Sessions};

/// Bytes of a datagram's tag.
pub const TAG_BYTES: usize = 16;
/// Bytes every authenticated datagram carries after its message.
pub const TRAILER_BYTES: usize = 8 + TAG_BYTES;

/// Handshakes under way from this node at once; more wait their turn
/// (a joining node greets its whole leaf set and some rows).
pub const PENDING: usize = 8;
/// Handshakes ended (verified or given up) that the node has not taken:
/// it takes them after every input, and one input ends few.
const ENDED: usize = 4;
/// Handshake answers (Challenges, Confirms) waiting to be sent.
const REPLIES: usize = 8;
/// A Hello unanswered this long (by default; a node uses its initial
/// retransmission timeout) is sent again, waiting twice as long each
/// time, [`HELLO_TRIES`] times in all.
const HELLO_TIMEOUT: Duration = Duration::from_secs(1);
const HELLO_TRIES: u8 = 4;
/// A cookie is good for the epoch it was made in and the next.
const COOKIE_EPOCH: Duration = Duration::from_secs(30);
/// The token bucket that rations signatures for strangers: this many at
/// once (a burst of joiners greets a bootstrap together), and one more
/// every [`TOKEN_EVERY`] (200 a second, a few percent of a core).
const TOKENS: u32 = 64;
const TOKEN_EVERY: Duration = Duration::from_millis(5);
/// Confirms remembered, so a replayed one cannot reset a session's window.
const RECENT: usize = 16;

/// How the handshake and the authentication went, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Handshakes completed (as either end).
    pub established: u64,
    /// Handshakes this node started and gave up (no valid answer).
    pub timed_out: u64,
    /// Sessions pushed out of the full cache by newer ones.
    pub evicted: u64,
    /// Peers refused by the admission mode or for a bad signature, key,
    /// certificate or id.
    pub refused: u64,
    /// Why the last refusal happened.
    pub last_refusal: Option<IdentityError>,
    /// Datagrams from a sender with no session here.
    pub no_session: u64,
    /// Datagrams from a verified id but another address.
    pub wrong_address: u64,
    /// Datagrams whose tag did not verify.
    pub bad_tag: u64,
    /// Datagrams whose sequence number was seen or is too old.
    pub replayed: u64,
    /// Confirms with a cookie this node did not make (or made too long
    /// ago).
    pub bad_cookie: u64,
    /// Handshake messages nobody asked for (a Challenge with no Hello).
    pub unsolicited: u64,
    /// Notices sent that a sender's session is stale here.
    pub stale_sent: u64,
    /// Notices taken that this node's session is stale at a peer (it
    /// greets the peer again).
    pub stale_heard: u64,
    /// Hellos left unanswered because the signature budget was spent or
    /// the answer queue was full.
    pub rationed: u64,
}

/// What [`Guard::open`] made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened<'b> {
    /// A handshake message; the guard handled it.
    Handshake,
    /// An authentic message from `sender`: its bytes without the trailer.
    Authentic {
        /// The verified sender: its id, at the address that answered.
        sender: Peer,
        /// The message, without the trailer.
        message: &'b [u8],
    },
    /// From `id`, which holds no session here at that address (a
    /// stranger, a peer that lost its session, or a member at a new
    /// address): dropped and counted. The caller decides whether the
    /// sender is worth a handshake ([`Guard::reconnect`]); strangers get
    /// nothing, so a spoofed datagram never makes this end greet a victim.
    Unverified {
        /// The id the datagram claims.
        id: Id,
    },
    /// Dropped, and counted.
    Dropped,
}

/// A handshake this end started: a Hello out, or (once the Challenge
/// came) a Confirm out, waiting for the responder's Ready.
#[derive(Clone, Copy, Debug)]
struct Pending {
    addr: SocketAddr,
    nonce: [u8; NONCE_BYTES],
    deadline: Instant,
    tries: u8,
    /// Whether its Hello (or Confirm) is to be sent again.
    due: bool,
    /// The responder's id and cookie, once its Challenge verified.
    confirming: Option<(Id, [u8; NONCE_BYTES])>,
}

#[derive(Clone, Copy, Debug)]
enum Reply {
    Challenge {
        to: SocketAddr,
        initiator: Id,
        nonce: [u8; NONCE_BYTES],
        cookie: [u8; NONCE_BYTES],
    },
    Ready {
        to: SocketAddr,
    },
}

/// One end's sessions (at most `N`), its handshakes under way and what
/// they owe. A [`Node`](crate::node::Node) keeps one; a test or tool that
/// speaks to nodes as a peer uses one the same way:
///
/// ```
/// use core::net::SocketAddr;
/// use pastry_core::identity::{Admission, Keypair};
/// use pastry_core::session::{Guard, Opened};
/// use pastry_core::wire::{AppId, Body, Heartbeat, Message};
/// use pastry_core::{Instant, Peer};
///
/// let (a_addr, b_addr): (SocketAddr, SocketAddr) =
///     ("10.0.0.1:1".parse().unwrap(), "10.0.0.2:1".parse().unwrap());
/// let open = Admission::default();
/// let mut a: Guard<4> = Guard::new(Keypair::from_secret([1; 32]).into(), open, 1);
/// let mut b: Guard<4> = Guard::new(Keypair::from_secret([2; 32]).into(), open, 2);
/// let (a_me, b_me) = (Peer::new(a.id(), a_addr), Peer::new(b.id(), b_addr));
/// let now = Instant::from_secs(1);
/// let mut buf = [0u8; 1280];
///
/// // A greets B; the Hello, Challenge and Confirm go back and forth.
/// a.connect(now, b_addr);
/// let (to, len, _) = a.poll_transmit(a_me, &mut buf).unwrap().unwrap();
/// assert_eq!((to, b.open(now, a_addr, &buf[..len])), (b_addr, Opened::Handshake));
/// let (_, len, _) = b.poll_transmit(b_me, &mut buf).unwrap().unwrap();
/// a.open(now, b_addr, &buf[..len]);
/// let (_, len, _) = a.poll_transmit(a_me, &mut buf).unwrap().unwrap();
/// b.open(now, a_addr, &buf[..len]);
///
/// // B's Ready tells A that B holds the session too.
/// let (_, len, _) = b.poll_transmit(b_me, &mut buf).unwrap().unwrap();
/// assert_eq!(a.open(now, b_addr, &buf[..len]), Opened::Handshake);
/// assert!(a.is_verified(b_me) && b.is_verified(a_me));
///
/// // Now A's messages reach B authenticated, and only once.
/// let hb = Message { app: AppId::OVERLAY, sender: a_me, body: Body::Heartbeat(Heartbeat) };
/// let len = a.send(now, b_addr, &hb, &mut buf).unwrap();
/// let sealed = buf[..len].to_vec();
/// assert_eq!(b.receive(now, a_addr, &sealed), Some((a_me, hb)));
/// assert_eq!(b.receive(now, a_addr, &sealed), None); // a replay
/// assert_eq!(b.stats.replayed, 1);
/// ```
#[derive(Debug)]
pub struct Guard<const N: usize> {
    identity: Identity,
    admission: Admission,
    /// The wall time at one instant, if the runtime told it.
    clock: Option<(Instant, UnixTime)>,
    sessions: Sessions<N>,
    pending: Vec<Pending, PENDING>,
    replies: Deque<Reply, REPLIES>,
    /// Newly verified peers, and addresses given up on, for the node.
    verified: Deque<Peer, ENDED>,
    failed: Deque<SocketAddr, ENDED>,
    recent: Deque<[u8; NONCE_BYTES], RECENT>,
    /// Addresses whose Hello this node answered lately, and when.
    challenged: Deque<(SocketAddr, Instant), REPLIES>,
    /// Addresses to tell that their session is stale here.
    stale: Deque<SocketAddr, REPLIES>,
    /// Signatures rationed for strangers.
    ration: Ration,
    hello_timeout: Duration,
    seed: u64,
    counter: u64,
    /// Outcomes, counted.
    pub stats: SessionStats,
}

impl<const N: usize> Guard<N> {
    /// A guard for the holder of `identity`, admitting peers as
    /// `admission` says. `seed` must differ between starts with the same
    /// key (a runtime draws it from the operating system): it keeps the
    /// handshake nonces of one start from repeating those of another.
    pub fn new(identity: Identity, admission: Admission, seed: u64) -> Self {
        Guard {
            identity,
            admission,
            clock: None,
            sessions: Sessions::new(),
            pending: Vec::new(),
            replies: Deque::new(),
            verified: Deque::new(),
            failed: Deque::new(),
            recent: Deque::new(),
            challenged: Deque::new(),
            stale: Deque::new(),
            ration: Ration::full(TOKENS),
            hello_timeout: HELLO_TIMEOUT,
            seed,
            counter: 0,
            stats: SessionStats::default(),
        }
    }

    /// The same guard, waiting `timeout` for the first answer to a Hello
    /// (doubling on each of its tries; 1 s by default).
    pub fn with_hello_timeout(mut self, timeout: Duration) -> Self {
        self.hello_timeout = timeout;
        self
    }

    /// The holder's id.
    pub fn id(&self) -> Id {
        self.identity.id()
    }

    /// The holder's credentials.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The wall time at `now`, for certificates.
    pub fn set_unix_time(&mut self, now: Instant, unix: UnixTime) {
        self.clock = Some((now, unix));
    }

    fn unix_now(&self, now: Instant) -> Option<UnixTime> {
        let (at, unix) = self.clock?;
        let since = now.saturating_duration_since(at).as_secs();
        Some(UnixTime(unix.0.saturating_add(since)))
    }

    /// The session with `id`, if it is verified at `addr`.
    pub fn is_verified(&self, peer: Peer) -> bool {
        self.sessions
            .get(peer.id)
            .is_some_and(|s| s.peer.addr == peer.addr && s.confirmed)
    }

    /// Whether a session with whoever is at `addr` exists.
    pub fn has_session(&self, addr: SocketAddr) -> bool {
        self.sessions.has_addr(addr)
    }

    /// Sessions held.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// A peer verified since the last call.
    pub fn take_verified(&mut self) -> Option<Peer> {
        self.verified.pop_front()
    }

    /// An address whose handshake was given up since the last call.
    pub fn take_failed(&mut self) -> Option<SocketAddr> {
        self.failed.pop_front()
    }

    /// Whether another handshake can start now.
    pub fn can_connect(&self) -> bool {
        !self.pending.is_full()
    }

    /// Whether a handshake with `addr` is under way.
    pub fn connecting(&self, addr: SocketAddr) -> bool {
        self.pending.iter().any(|p| p.addr == addr)
    }

    /// Starts a handshake with whoever is at `addr`, unless one is under
    /// way or a session exists. False when no handshake can start (all
    /// [`PENDING`] are under way).
    pub fn connect(&mut self, now: Instant, addr: SocketAddr) -> bool {
        if self.sessions.has_addr(addr) || self.pending.iter().any(|p| p.addr == addr) {
            return true;
        }
        self.start_again(now, addr)
    }

    /// Starts a handshake with `addr` even if a session exists (its peer
    /// may have lost it): at most one under way per address.
    fn start_again(&mut self, now: Instant, addr: SocketAddr) -> bool {
        if self.pending.iter().any(|p| p.addr == addr) {
            return true;
        }
        self.counter += 1;
        let n = self.identity.keypair.prf(
            b"hello nonce",
            &[&self.seed.to_be_bytes(), &self.counter.to_be_bytes()],
        );
        let mut nonce = [0u8; NONCE_BYTES];
        nonce.copy_from_slice(&n[..NONCE_BYTES]);
        self.pending
            .push(Pending {
                addr,
                nonce,
                deadline: now + self.hello_timeout,
                tries: 1,
                due: true,
                confirming: None,
            })
            .is_ok()
    }

    /// Greets `addr` again, for a peer worth it whose datagram came
    /// without a session (see [`Opened::Unverified`]): unless this end
    /// answered that address's Hello lately (its Confirm may be on the
    /// way, overtaken), and within the ration.
    pub fn reconnect(&mut self, now: Instant, addr: SocketAddr) -> bool {
        let challenged = self
            .challenged
            .iter()
            .any(|(a, t)| *a == addr && now < *t + self.hello_timeout * 2);
        !challenged && self.take_token(now) && self.start_again(now, addr)
    }

    /// Tells `addr`, whose `len`-byte datagram had no session here, that
    /// its session is stale (see [`Opened::Unverified`]): within the
    /// ration, and only when the notice is shorter than what came.
    pub fn tell_stale(&mut self, now: Instant, addr: SocketAddr, len: usize) -> bool {
        let notice = crate::wire::HEADER_LEN_V6;
        if len <= notice || self.stale.is_full() || self.stale.iter().any(|a| *a == addr) {
            return false;
        }
        if !self.take_token(now) {
            self.stats.rationed += 1;
            return false;
        }
        self.stats.stale_sent += 1;
        self.stale.push_back(addr).is_ok()
    }

    /// Spends one of the signatures rationed for strangers.
    fn take_token(&mut self, now: Instant) -> bool {
        self.ration.take(now, TOKENS, TOKEN_EVERY)
    }

    /// When a Hello is next due again.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Re-sends Hellos that went unanswered, and gives up on those that
    /// ran out of tries.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut j = 0;
        while j < self.pending.len() {
            let p = &mut self.pending[j];
            if p.deadline > now {
                j += 1;
                continue;
            }
            if p.tries < HELLO_TRIES {
                p.due = true;
                p.deadline = now + self.hello_timeout * (1 << p.tries);
                p.tries += 1;
                j += 1;
            } else {
                let addr = p.addr;
                self.pending.swap_remove(j);
                self.stats.timed_out += 1;
                if self.failed.push_back(addr).is_err() {
                    // The node drains these every input; if it did not,
                    // the oldest news matters least.
                    self.failed.pop_front();
                    let _ = self.failed.push_back(addr);
                }
            }
        }
    }

    /// The next handshake datagram to send, encoded into `buf` as from
    /// `own`: its destination, length and kind.
    pub fn poll_transmit(
        &mut self,
        own: Peer,
        buf: &mut [u8],
    ) -> Result<Option<(SocketAddr, usize, Kind)>, EncodeError> {
        if let Some(r) = self.replies.front().copied() {
            let (to, body) = match r {
                Reply::Challenge {
                    to,
                    initiator,
                    nonce,
                    cookie,
                } => {
                    let signed = Proof::signed(CHALLENGE_LABEL, initiator, own.id, &nonce, &cookie);
                    (to, Body::Challenge(self.proof(nonce, cookie, &signed)))
                }
                Reply::Ready { to } => {
                    self.replies.pop_front();
                    let msg = Message {
                        app: AppId::OVERLAY,
                        sender: own,
                        body: Body::Ready,
                    };
                    // The session may have gone meanwhile: then nothing.
                    return Ok(self
                        .send(Instant::ZERO, to, &msg, buf)
                        .map(|len| (to, len, Kind::Ready)));
                }
            };
            let kind = body.kind();
            let len = encode(own, body, buf)?;
            self.replies.pop_front();
            return Ok(Some((to, len, kind)));
        }
        if let Some(to) = self.stale.pop_front() {
            let len = encode(own, Body::Stale, buf)?;
            return Ok(Some((to, len, Kind::Stale)));
        }
        if let Some(j) = self.pending.iter().position(|p| p.due) {
            let p = self.pending[j];
            let body = match p.confirming {
                None => Body::Hello(Hello { nonce: p.nonce }),
                Some((responder, cookie)) => {
                    let signed = Proof::signed(CONFIRM_LABEL, own.id, responder, &p.nonce, &cookie);
                    Body::Confirm(self.proof(p.nonce, cookie, &signed))
                }
            };
            let kind = body.kind();
            let len = encode(own, body, buf)?;
            self.pending[j].due = false;
            return Ok(Some((p.addr, len, kind)));
        }
        Ok(None)
    }
}

/// The message in a datagram, for an observer that holds no session (a
/// simulator's or a capture's view): a handshake datagram whole, any
/// other without its trailer. The trailer is not checked.
pub fn message_of(bytes: &[u8]) -> &[u8] {
    match bytes.get(3).and_then(|&k| Kind::from_u8(k)) {
        Some(k) if k.is_handshake() => bytes,
        _ => &bytes[..bytes.len().saturating_sub(TRAILER_BYTES)],
    }
}

fn encode(own: Peer, body: Body<'_>, buf: &mut [u8]) -> Result<usize, EncodeError> {
    Message {
        app: AppId::OVERLAY,
        sender: own,
        body,
    }
    .encode(buf)
}
