//! An attacker that never joins (#28's table): from an address of its own
//! (or a live node's, spoofed) it sends the datagrams that took an
//! overlay of nodes believing every claim apart. It sees the global view,
//! as an outsider that sniffs the network would: who is alive, their ids,
//! addresses and leaf sets. It holds no key of a member, so it can seal
//! nothing; its datagrams carry a trailer of random bytes where a sealed
//! one carries its sequence number and tag.
//!
//! The forgeries, in turn, one every [`Attack::every`]:
//! a Leave "from" a victim's leaf-set member, from that member's address;
//! a heartbeat with the member's id from the attacker's address; a probe
//! from an invented id next to the victim, asking for its leaf set; a
//! replica copy at version 2⁶⁴ − 1 of a stored key in the member's name;
//! a join request naming the member's address as the joiner's; and an
//! application message in the member's name, marked as a hand-off.

use std::net::SocketAddr;

use pastry_core::dht::{self, Store};
use pastry_core::wire::{
    AppId, Body, Heartbeat, JoinRequest, LeafSetView, Leave, Message, Probe, Routed,
};
use pastry_core::{Id, Peer};

use super::{Action, Sim};

/// The attacker's own address: no node has it.
pub const ATTACKER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 66)),
    6666,
);

/// Version of every forged replica copy: the highest there is.
pub const FORGED_VERSION: u64 = u64::MAX;

/// The kinds of forgery, in the order sent.
pub const KINDS: [&str; 6] = [
    "leave",
    "heartbeat",
    "probe",
    "replica_copy",
    "join_request",
    "routed",
];

/// A DHT replica copy of `value` under `key` at `version`, as a member's
/// replica maintenance would send it (the DHT's own codec).
pub fn replica_copy(key: Id, version: u64, value: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 1_400];
    let n = pastry_core::fuzzing::dht_replica_copy(key, version, value, &mut buf)
        .expect("a small copy fits");
    buf.truncate(n);
    buf
}

/// How often the attacker sends.
#[derive(Clone, Copy, Debug)]
pub struct Attack {
    /// One forged datagram this often.
    pub every: std::time::Duration,
}

/// What the attacker sent and heard back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttackTally {
    /// Forged datagrams sent.
    pub sent: u64,
    /// Their bytes.
    pub sent_bytes: u64,
    /// Of them, by kind ([`KINDS`]).
    pub by_kind: [u64; 6],
    /// Datagrams the overlay sent to the attacker's address.
    pub answers: u64,
    /// Their bytes.
    pub answer_bytes: u64,
}

#[derive(Debug)]
pub(super) struct Attacker {
    pub(super) attack: Attack,
    pub(super) tally: AttackTally,
    active: bool,
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// Starts the attacker: one forged datagram every `attack.every`, until
    /// [`Sim::stop_attack`].
    pub fn start_attack(&mut self, attack: Attack) {
        let tally = self.attacker.as_ref().map(|a| a.tally).unwrap_or_default();
        self.attacker = Some(Attacker {
            attack,
            tally,
            active: true,
        });
        self.schedule(self.now + attack.every, Action::Attack);
    }

    /// Stops the attacker (its tally stays).
    pub fn stop_attack(&mut self) {
        if let Some(a) = self.attacker.as_mut() {
            a.active = false;
        }
    }

    /// What the attacker did, if one ran.
    pub fn attack_tally(&self) -> Option<AttackTally> {
        self.attacker.as_ref().map(|a| a.tally)
    }

    /// Datagrams the live nodes dropped as unauthenticated.
    pub fn unauthenticated_drops(&self) -> u64 {
        self.live()
            .into_iter()
            .filter_map(|i| self.node(i))
            .map(|n| n.stats().drops.unauthenticated)
            .sum()
    }

    /// Live nodes' stores holding a forged copy (version 2⁶⁴ − 1).
    pub fn forged_values_held(&self) -> usize {
        self.live()
            .into_iter()
            .filter_map(|i| self.slots[i].dht())
            .map(|d| {
                let mut n = 0;
                let mut next = d.store().first_from(Id::ZERO);
                while let Some((key, meta)) = next {
                    n += usize::from(meta.version == FORGED_VERSION);
                    next = d.store().next_after(key);
                }
                n
            })
            .sum()
    }

    /// A datagram for the attacker's address: counted, never delivered.
    pub(super) fn heard_by_attacker(&mut self, len: usize) -> bool {
        match self.attacker.as_mut() {
            Some(a) => {
                a.tally.answers += 1;
                a.tally.answer_bytes += len as u64;
                true
            }
            None => false,
        }
    }

    /// The attacker's turn: one forgery, and the next turn.
    pub(super) fn attack_once(&mut self) {
        let Some(a) = self.attacker.as_ref().filter(|a| a.active) else {
            return;
        };
        let every = a.attack.every;
        let kind = (a.tally.sent % KINDS.len() as u64) as usize;
        self.schedule(self.now + every, Action::Attack);
        let Some(v) = self.random_active() else {
            return;
        };
        let pick = self.rng.next_u64();
        let Some(victim) = self.node(v) else { return };
        let members: Vec<Peer> = victim.leaf_set().members().copied().collect();
        let Some(&member) = members.get((pick % members.len().max(1) as u64) as usize) else {
            return;
        };
        let own = victim.own();
        let (from, msg) = match kind {
            0 => (
                member.addr,
                Message {
                    app: AppId::OVERLAY,
                    sender: member,
                    body: Body::Leave(Leave {
                        leaf_set: LeafSetView::EMPTY,
                    }),
                },
            ),
            1 => (
                ATTACKER,
                Message {
                    app: AppId::OVERLAY,
                    sender: Peer::new(member.id, ATTACKER),
                    body: Body::Heartbeat(Heartbeat),
                },
            ),
            2 => {
                // An invented id just past the victim's.
                let near = own.id.wrapping_add(pastry_core::Distance::ONE);
                (
                    ATTACKER,
                    Message {
                        app: AppId::OVERLAY,
                        sender: Peer::new(near, ATTACKER),
                        body: Body::Probe(Probe {
                            nonce: pick,
                            want_leaf_set: true,
                        }),
                    },
                )
            }
            3 => return self.forge_copy(v, member, pick, kind),
            4 => (
                ATTACKER,
                Message {
                    app: AppId::OVERLAY,
                    sender: Peer::new(Id::sha1(&pick.to_be_bytes()), ATTACKER),
                    body: Body::JoinRequest(JoinRequest {
                        msg_id: pick,
                        hops: 0,
                        joiner: member,
                    }),
                },
            ),
            _ => (
                member.addr,
                Message {
                    app: AppId(0x0bad),
                    sender: member,
                    body: Body::Routed(Routed {
                        msg_id: pick,
                        key: own.id,
                        per_hop: false,
                        handoff: true,
                        receipt: false,
                        attempt: 0,
                        hops: 3,
                        source: member,
                        payload: b"in a member's name",
                        signature: None,
                    }),
                },
            ),
        };
        self.inject(v, from, &msg, kind);
    }

    /// A replica copy at the highest version of a key the run stored (or
    /// the victim's own id), in `member`'s name, from its address.
    fn forge_copy(&mut self, v: usize, member: Peer, pick: u64, kind: usize) {
        let key = self
            .storage
            .random_acked(pick)
            .unwrap_or_else(|| self.slots[v].id);
        let payload = replica_copy(key, FORGED_VERSION, b"a forgery");
        let msg = Message {
            app: dht::APP,
            sender: member,
            body: Body::Routed(Routed {
                msg_id: pick,
                key,
                per_hop: false,
                handoff: false,
                receipt: false,
                attempt: 0,
                hops: 0,
                source: member,
                payload: &payload,
                signature: None,
            }),
        };
        self.inject(v, member.addr, &msg, kind);
    }

    /// Delivers `msg` to node `v` as if it came from `from`, now.
    fn inject(&mut self, v: usize, from: SocketAddr, msg: &Message<'_>, kind: usize) {
        let mut bytes = vec![0u8; 1_400];
        let Ok(mut len) = msg.encode(&mut bytes) else {
            return;
        };
        if self.config.node.verify_peers {
            // What a sealed datagram carries: the attacker can only guess.
            for _ in 0..3 {
                bytes[len..len + 8].copy_from_slice(&self.rng.next_u64().to_be_bytes());
                len += 8;
            }
        }
        if let Some(a) = self.attacker.as_mut() {
            a.tally.sent += 1;
            a.tally.sent_bytes += len as u64;
            a.tally.by_kind[kind] += 1;
        }
        let now = self.now;
        if let Some(host) = self.slots[v].host.as_mut() {
            host.handle_datagram(now, from, &bytes[..len]);
        }
        self.drain(v);
    }
}
