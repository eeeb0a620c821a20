//! Verified peers: the bounded cache of sessions, each with the key the
//! pair agreed and a replay window (RFC 4303 §3.4.3's sliding window).

use heapless::Vec;

use crate::id::Id;
use crate::peer::Peer;
use crate::time::Instant;

/// Sequence numbers a window remembers below the highest seen.
const WINDOW: u64 = 64;

/// A key both ends derived, and its replay window: the highest sequence
/// number accepted under it, and which of the 64 below it were (bit i:
/// `top - i`).
#[derive(Clone, Debug)]
pub(crate) struct Keyed {
    pub(crate) key: [u8; 32],
    top: u64,
    seen: u64,
}

/// One verified peer.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// Its id, and the address that answered the challenge.
    pub(crate) peer: Peer,
    /// The key this end seals with, and accepts.
    pub(crate) current: Keyed,
    /// The key of the handshake before, still accepted: datagrams sealed
    /// under it may be in flight, and two handshakes that crossed may
    /// leave each end sealing under a different one (as WireGuard keeps
    /// its previous keypair).
    pub(crate) previous: Option<Keyed>,
    /// The last sequence number sent.
    pub(crate) sent: u64,
    /// When it was last used either way (least recently used goes first).
    pub(crate) used: Instant,
    /// When the handshake completed.
    pub(crate) since: Instant,
    /// Whether the other end holds it too (for the initiator: its Ready
    /// came): only then does this end seal with it.
    pub(crate) confirmed: bool,
}

impl Keyed {
    pub(crate) fn new(key: [u8; 32]) -> Keyed {
        Keyed {
            key,
            top: 0,
            seen: 0,
        }
    }

    /// Whether `seq` is new: not zero, not below the window, not seen.
    pub(crate) fn fresh(&self, seq: u64) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.top {
            return true;
        }
        let back = self.top - seq;
        back < WINDOW && self.seen >> back & 1 == 0
    }

    /// Records `seq` as seen (after its tag checked).
    pub(crate) fn mark(&mut self, seq: u64) {
        if seq > self.top {
            let shift = seq - self.top;
            self.seen = if shift >= WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.top = seq;
        } else {
            self.seen |= 1 << (self.top - seq);
        }
    }
}

impl Session {
    pub(crate) fn new(peer: Peer, key: [u8; 32], now: Instant) -> Self {
        Session {
            peer,
            current: Keyed::new(key),
            previous: None,
            sent: 0,
            used: now,
            since: now,
            confirmed: true,
        }
    }
}

/// A session this young is pushed out only when every other is as young
/// or kept: its peer has just been verified, and the datagrams that wait
/// for it are on their way.
const GRACE: core::time::Duration = core::time::Duration::from_secs(2);

/// At most `N` sessions; a new one pushes out the least recently used of
/// those its owner does not want kept (its routing state's members) and
/// past their first [`GRACE`].
#[derive(Clone, Debug)]
pub(crate) struct Sessions<const N: usize> {
    list: Vec<Session, N>,
}

impl<const N: usize> Sessions<N> {
    pub(crate) fn new() -> Self {
        Sessions { list: Vec::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn by_id(&mut self, id: Id) -> Option<&mut Session> {
        self.list.iter_mut().find(|s| s.peer.id == id)
    }

    pub(crate) fn get(&self, id: Id) -> Option<&Session> {
        self.list.iter().find(|s| s.peer.id == id)
    }

    /// The confirmed session at `addr`, to seal with.
    pub(crate) fn by_addr(&mut self, addr: core::net::SocketAddr) -> Option<&mut Session> {
        self.list
            .iter_mut()
            .find(|s| s.peer.addr == addr && s.confirmed)
    }

    pub(crate) fn has_addr(&self, addr: core::net::SocketAddr) -> bool {
        self.list.iter().any(|s| s.peer.addr == addr && s.confirmed)
    }

    /// Whether a new session could be held now without pushing out one
    /// that is kept or still in its first [`GRACE`]: a full table of such
    /// sessions answers no stranger's Hello, so a crowd larger than the
    /// table waits its turn instead of evicting each other's sessions
    /// before they are used.
    pub(crate) fn has_room(&self, now: Instant, keep: impl Fn(Id) -> bool) -> bool {
        !self.list.is_full()
            || self
                .list
                .iter()
                .any(|o| !keep(o.peer.id) && now >= o.since + GRACE)
    }

    /// Adds `s`, replacing any session with the same id or address (a
    /// peer verified again, or an address now answered by another key).
    /// Returns the peer whose session was pushed out to make room.
    pub(crate) fn insert(&mut self, mut s: Session, keep: impl Fn(Id) -> bool) -> Option<Peer> {
        if let Some(old) = self.list.iter().find(|o| o.peer == s.peer) {
            s.previous = Some(old.current.clone());
            s.sent = old.sent;
        }
        self.list
            .retain(|o| o.peer.id != s.peer.id && o.peer.addr != s.peer.addr);
        if self.list.is_full() {
            let now = s.used;
            let rank = |o: &Session| (keep(o.peer.id), now < o.since + GRACE, o.used);
            let pushed_out = (0..self.list.len())
                .min_by_key(|&j| rank(&self.list[j]))
                .map(|j| self.list.swap_remove(j).peer);
            let _ = self.list.push(s);
            return pushed_out;
        }
        let _ = self.list.push(s);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::SocketAddr;

    fn session(n: u8, t: u64) -> Session {
        let peer = Peer::new(
            Id::from_bytes([n; 20]),
            SocketAddr::from(([10, 0, 0, n], 1)),
        );
        Session::new(peer, [n; 32], Instant::from_secs(t))
    }

    #[test]
    fn the_window_takes_each_number_once_and_nothing_too_old() {
        let mut s = Keyed::new([1; 32]);
        // Brute force against a set of everything accepted so far.
        let mut accepted: Vec<u64, 512> = Vec::new();
        let seqs = [
            1u64, 2, 2, 5, 3, 3, 1, 100, 37, 36, 36, 35, 99, 101, 30, 0, 200, 137, 136, 300,
        ];
        for seq in seqs {
            let top = accepted.iter().copied().max().unwrap_or(0);
            let expect = seq != 0 && !accepted.contains(&seq) && (seq > top || top - seq < WINDOW);
            assert_eq!(s.fresh(seq), expect, "seq {seq}");
            if expect {
                s.mark(seq);
                accepted.push(seq).unwrap();
            }
        }
    }

    #[test]
    fn a_full_table_drops_the_least_recently_used_and_ids_or_addresses_replace() {
        let mut t: Sessions<2> = Sessions::new();
        t.insert(session(1, 5), |_| false);
        t.insert(session(2, 3), |_| false);
        t.insert(session(3, 9), |_| false); // pushes out 2, used longest ago
        // Verified again: the old key is still accepted.
        let mut again = session(1, 9);
        again.current = Keyed::new([7; 32]);
        t.insert(again, |_| false);
        let s = t.get(Id::from_bytes([1; 20])).unwrap();
        assert_eq!(s.current.key, [7; 32]);
        assert_eq!(s.previous.as_ref().map(|k| k.key), Some([1; 32]));
        assert!(t.get(Id::from_bytes([2; 20])).is_none());
        assert!(t.get(Id::from_bytes([1; 20])).is_some());
        // The same id at a new address replaces its old session.
        let mut moved = session(1, 10);
        moved.peer.addr = SocketAddr::from(([10, 9, 9, 9], 1));
        t.insert(moved, |_| false);
        assert_eq!(t.len(), 2);
        assert!(t.has_addr(SocketAddr::from(([10, 9, 9, 9], 1))));
        assert!(!t.has_addr(SocketAddr::from(([10, 0, 0, 1], 1))));
        // Another key at a known address replaces that address's session.
        let mut other = session(4, 11);
        other.peer.addr = SocketAddr::from(([10, 0, 0, 3], 1));
        t.insert(other, |_| false);
        assert!(t.get(Id::from_bytes([3; 20])).is_none());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn members_and_new_sessions_are_pushed_out_last() {
        let mut t: Sessions<2> = Sessions::new();
        let id = |n: u8| Id::from_bytes([n; 20]);
        t.insert(session(1, 0), |_| false);
        t.insert(session(2, 50), |_| false);
        // 1 is the least recently used, but a member: 2 goes.
        t.insert(session(3, 100), |i| i == id(1));
        assert!(t.get(id(1)).is_some() && t.get(id(2)).is_none());
        // 1 was used lately, 3 not since its handshake; but 3 is new, so
        // 1 goes.
        t.by_id(id(1)).unwrap().used = Instant::from_secs(101);
        t.insert(session(4, 101), |_| false);
        assert!(t.get(id(3)).is_some() && t.get(id(1)).is_none());
    }

    #[test]
    fn a_table_of_kept_or_new_sessions_has_no_room_until_one_ages() {
        let mut t: Sessions<2> = Sessions::new();
        let id = |n: u8| Id::from_bytes([n; 20]);
        let at = Instant::from_secs;
        assert!(t.has_room(at(0), |_| false));
        t.insert(session(1, 0), |_| false);
        assert!(t.has_room(at(0), |_| false), "not full");
        t.insert(session(2, 1), |_| false);
        // Both within their grace: a crowd waits rather than evicting them.
        assert!(!t.has_room(at(1), |_| false));
        // 1 has aged; but while it is kept, still no room.
        assert!(t.has_room(at(2), |_| false));
        assert!(!t.has_room(at(2), |i| i == id(1)));
        assert!(t.has_room(at(3), |i| i == id(1)), "2 has aged too");
    }
}
