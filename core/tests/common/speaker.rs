//! A peer a test speaks as: its own session guard, so the datagrams it
//! hands a node are authenticated the way a real member's are.

use std::net::SocketAddr;

use pastry_core::identity::{Admission, Keypair};
use pastry_core::node::Forwarder;
use pastry_core::session::Guard;
use pastry_core::wire::Message;
use pastry_core::{Instant, Node, Peer};

pub struct Speaker {
    pub guard: Guard<64>,
    pub me: Peer,
}

impl Speaker {
    pub fn new(keys: Keypair, addr: SocketAddr) -> Speaker {
        let id = keys.id();
        Speaker {
            guard: Guard::new(keys.into(), Admission::default(), u64::from(addr.port())),
            me: Peer::new(id, addr),
        }
    }

    /// A peer outside the overlay, its key from the secret `[n; 32]`, at
    /// 192.0.2.n (TEST-NET-1) port 1000 + n.
    pub fn stranger(n: u8) -> Speaker {
        let addr = SocketAddr::from(([192, 0, 2, n], 1_000 + u16::from(n)));
        Speaker::new(Keypair::from_secret([n; 32]), addr)
    }

    /// Runs the handshake with `node` (at `to`) to the end; the node's
    /// other datagrams meanwhile are returned.
    pub fn greet<const H: usize, const R: usize, const P: usize, const Q: usize, F: Forwarder>(
        &mut self,
        now: Instant,
        node: &mut Node<H, R, P, Q, F>,
        to: SocketAddr,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        let mut others = Vec::new();
        let mut buf = vec![0u8; 2048];
        self.guard.connect(now, to);
        for _ in 0..8 {
            while let Some((dest, len, _)) = self.guard.poll_transmit(self.me, &mut buf).unwrap() {
                assert_eq!(dest, to);
                node.handle_datagram(now, self.me.addr, &buf[..len]);
            }
            while let Some(tx) = node.poll_transmit(&mut buf).unwrap() {
                if tx.destination == self.me.addr {
                    let _ = self.guard.open(now, to, &buf[..tx.len]);
                } else {
                    others.push((tx.destination, buf[..tx.len].to_vec()));
                }
            }
            if self.guard.is_verified(Peer::new(node.own().id, to)) {
                return others;
            }
        }
        panic!("no handshake with {to}: {:?}", self.guard.stats);
    }

    /// `msg` (whose sender should be `self.me`) sealed for `to`.
    pub fn seal(&mut self, now: Instant, to: SocketAddr, msg: &Message<'_>) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let len = self
            .guard
            .send(now, to, msg, &mut buf)
            .expect("a session with the node");
        buf.truncate(len);
        buf
    }

    /// The message in a datagram from `from`, if authentic.
    pub fn open<'b>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &'b [u8],
    ) -> Option<Message<'b>> {
        self.guard.receive(now, from, bytes).map(|(_, m)| m)
    }
}
