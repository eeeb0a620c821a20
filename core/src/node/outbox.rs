//! Pending output as small descriptors, encoded only when the caller polls
//! (STYLE §5): a leaf set or a routing row is read from the state as it is
//! at that moment, and a routed message from its slot.

use core::net::SocketAddr;

use heapless::Vec;

use super::app::Forwarder;
use super::pool::{Carried, SlotRef, SlotState};
use super::{Node, handover};
use crate::id::Id;
use crate::peer::Peer;
use crate::wire::{
    Ack, AppId, Body, EncodeError, HANDOVER_RECORD_BYTES, Handover, HandoverRecord, Heartbeat,
    JoinReply, JoinRequest, Kind, LeafSetExchange, LeafSetView, Leave, Message, PeerList, Probe,
    ProbeReply, Query, Receipt, ReplicaSet, RouteFailed, Routed, RowReply, RowRequest, peer_len,
};

/// One datagram waiting to be encoded.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Out {
    /// The message in this slot, to the slot's next hop.
    Routed(SlotRef),
    /// A join request straight to a bootstrap address (the first hop).
    JoinRequest {
        to: SocketAddr,
        msg_id: u64,
    },
    JoinReply {
        to: SocketAddr,
        from_root: bool,
        max_row: u8,
    },
    Ack {
        to: SocketAddr,
        msg_id: u64,
    },
    Heartbeat {
        to: SocketAddr,
    },
    Probe {
        to: SocketAddr,
        nonce: u64,
        want_leaf_set: bool,
    },
    /// With our leaf set if asked, and then the delivery records of
    /// keys closer to the prober (a joiner asks for the leaf set).
    ProbeReply {
        to: SocketAddr,
        nonce: u64,
        with_leaf_set: bool,
        prober: Id,
    },
    LeafSet {
        to: SocketAddr,
        want_reply: bool,
        announces: bool,
    },
    RowRequest {
        to: SocketAddr,
        row: u8,
    },
    RowReply {
        to: SocketAddr,
        row: u8,
    },
    Leave {
        to: SocketAddr,
    },
    /// A secure query's answer: our leaf set (or, `forged`, the
    /// adversary's colluders nearest the key).
    ReplicaSet {
        to: SocketAddr,
        msg_id: u64,
        key: Id,
        complete: bool,
        forged: bool,
    },
    /// To a routed message's source: this node could not route it on.
    RouteFailed {
        to: SocketAddr,
        msg_id: u64,
        key: Id,
        app: AppId,
    },
    /// To a routed message's source: this node delivered it.
    Receipt {
        to: SocketAddr,
        msg_id: u64,
        key: Id,
        app: AppId,
    },
}

/// Most routing-table entries one reply carries.
pub(super) const MAX_ROW_ENTRIES: usize = 48;

impl<
    const HALF: usize,
    const ROWS: usize,
    const POOL: usize,
    const QUEUE: usize,
    F: Forwarder,
    const SESSIONS: usize,
> Node<HALF, ROWS, POOL, QUEUE, F, SESSIONS>
{
    /// Where `out` goes; `None` when it went stale (its slot was freed or
    /// moved on).
    pub(crate) fn destination(&self, out: &Out) -> Option<SocketAddr> {
        Some(match *out {
            Out::Routed(r) => match self.pool.get(r)?.state {
                SlotState::Awaiting { next, .. } => next.addr,
                _ => return None,
            },
            Out::JoinRequest { to, .. }
            | Out::JoinReply { to, .. }
            | Out::Ack { to, .. }
            | Out::Heartbeat { to }
            | Out::Probe { to, .. }
            | Out::ProbeReply { to, .. }
            | Out::LeafSet { to, .. }
            | Out::RowRequest { to, .. }
            | Out::RowReply { to, .. }
            | Out::Leave { to }
            | Out::ReplicaSet { to, .. }
            | Out::RouteFailed { to, .. }
            | Out::Receipt { to, .. } => to,
        })
    }

    /// Encodes `out` into `buf`. `Ok(None)` when the descriptor went stale
    /// (its slot was freed or moved on), so there is nothing to send.
    pub(crate) fn encode_out(
        &self,
        out: &Out,
        buf: &mut [u8],
    ) -> Result<Option<(SocketAddr, usize, Kind)>, EncodeError> {
        let me = self.routing.own();
        let ls = self.routing.leaf_set();
        let leaf_set = LeafSetView {
            left: PeerList::Peers(ls.left()),
            right: PeerList::Peers(ls.right()),
        };
        // A faulty node that eclipses offers colluders only.
        #[cfg(feature = "adversary")]
        let (mut eclipsed, mut forged) = Default::default();
        #[cfg(feature = "adversary")]
        let leaf_set = self.eclipsed_leaf_set(&mut eclipsed).unwrap_or(leaf_set);
        let no_leaf_set = LeafSetView::EMPTY;
        let mut rows: Vec<Peer, MAX_ROW_ENTRIES> = Vec::new();
        let mut handed = Vec::new();
        let (to, app, body) = match *out {
            Out::Routed(r) => {
                let Some(slot) = self.pool.get(r) else {
                    return Ok(None);
                };
                let SlotState::Awaiting { next, .. } = slot.state else {
                    return Ok(None);
                };
                let body = match slot.carried {
                    Carried::Join { joiner } => Body::JoinRequest(JoinRequest {
                        msg_id: slot.msg_id,
                        hops: slot.hops,
                        joiner,
                    }),
                    Carried::Query { replicas, key } => Body::Query(Query {
                        msg_id: slot.msg_id,
                        key,
                        target: slot.key,
                        replicas,
                        hops: slot.hops,
                        source: slot.source,
                    }),
                    Carried::Routed => Body::Routed(Routed {
                        msg_id: slot.msg_id,
                        key: slot.key,
                        per_hop: slot.per_hop,
                        handoff: slot.handoff,
                        receipt: slot.receipt,
                        attempt: slot.attempt,
                        hops: slot.hops,
                        source: slot.source,
                        payload: self.pool.payload(r),
                        signature: self.pool.signature(r),
                    }),
                };
                (next.addr, slot.app, body)
            }
            Out::JoinRequest { to, msg_id } => (
                to,
                AppId::OVERLAY,
                Body::JoinRequest(JoinRequest {
                    msg_id,
                    hops: 0,
                    joiner: me,
                }),
            ),
            Out::JoinReply {
                to,
                from_root,
                max_row,
            } => {
                let ls_view = if from_root { leaf_set } else { no_leaf_set };
                let used = 1 + ls_view.left.encoded_len() + ls_view.right.encoded_len() + 1;
                self.gather_rows(usize::from(max_row), true, used, &mut rows);
                let body = Body::JoinReply(JoinReply {
                    from_root,
                    rows: PeerList::Peers(&rows),
                    leaf_set: ls_view,
                });
                (to, AppId::OVERLAY, body)
            }
            Out::Ack { to, msg_id } => (to, AppId::OVERLAY, Body::Ack(Ack { msg_id })),
            Out::Heartbeat { to } => (to, AppId::OVERLAY, Body::Heartbeat(Heartbeat)),
            Out::Probe {
                to,
                nonce,
                want_leaf_set,
            } => (
                to,
                AppId::OVERLAY,
                Body::Probe(Probe {
                    nonce,
                    want_leaf_set,
                }),
            ),
            Out::ProbeReply {
                to,
                nonce,
                with_leaf_set,
                prober,
            } => {
                let (leaf_set, handover) = if with_leaf_set {
                    let used = 8 + leaf_set.encoded_len();
                    (leaf_set, self.handover_for(prober, used, &mut handed))
                } else {
                    (no_leaf_set, Handover::NONE)
                };
                (
                    to,
                    AppId::OVERLAY,
                    Body::ProbeReply(ProbeReply {
                        nonce,
                        leaf_set,
                        handover,
                    }),
                )
            }
            Out::LeafSet {
                to,
                want_reply,
                announces,
            } => (
                to,
                AppId::OVERLAY,
                Body::LeafSet(LeafSetExchange {
                    want_reply,
                    announces,
                    leaf_set,
                }),
            ),
            Out::RowRequest { to, row } => {
                (to, AppId::OVERLAY, Body::RowRequest(RowRequest { row }))
            }
            Out::RowReply { to, row } => {
                self.gather_rows(usize::from(row), false, 2, &mut rows);
                (
                    to,
                    AppId::OVERLAY,
                    Body::RowReply(RowReply {
                        row,
                        entries: PeerList::Peers(&rows),
                    }),
                )
            }
            Out::Leave { to } => (to, AppId::OVERLAY, Body::Leave(Leave { leaf_set })),
            Out::ReplicaSet {
                to,
                msg_id,
                key,
                complete,
                forged: forged_answer,
            } => {
                #[cfg(feature = "adversary")]
                let leaf_set = match forged_answer {
                    true => self.colluders_around(key, &mut forged).unwrap_or(leaf_set),
                    false => leaf_set,
                };
                #[cfg(not(feature = "adversary"))]
                let _ = forged_answer;
                (
                    to,
                    AppId::OVERLAY,
                    Body::ReplicaSet(ReplicaSet {
                        msg_id,
                        key,
                        complete,
                        leaf_set,
                    }),
                )
            }
            Out::RouteFailed {
                to,
                msg_id,
                key,
                app,
            } => (to, app, Body::RouteFailed(RouteFailed { msg_id, key })),
            Out::Receipt {
                to,
                msg_id,
                key,
                app,
            } => (to, app, Body::Receipt(Receipt { msg_id, key })),
        };
        let kind = body.kind();
        let len = Message {
            app,
            sender: me,
            body,
        }
        .encode(buf)?;
        Ok(Some((to, len, kind)))
    }

    /// Bytes a datagram of ours has left after `used` bytes of body: the
    /// largest datagram less the header and the session's trailer.
    fn body_room(&self, used: usize) -> usize {
        let header = 2 + 1 + 1 + 2 + peer_len(&self.own());
        self.config
            .max_datagram
            .saturating_sub(header + used + self.trailer())
    }

    /// The delivery records a probe reply to `prober` carries after `used`
    /// bytes of body: those of its keys, as many as fit the datagram.
    /// (Not inlined: one copy keeps the embedded build's flash.)
    #[inline(never)]
    fn handover_for<'b>(
        &self,
        prober: Id,
        used: usize,
        out: &'b mut Vec<HandoverRecord, { handover::KEPT }>,
    ) -> Handover<'b> {
        self.handed.for_joiner((self.own().id, prober), out);
        // The count byte is the `+ 1`.
        out.truncate(self.body_room(used + 1) / HANDOVER_RECORD_BYTES);
        Handover::Records(out)
    }

    /// Routing-table entries of row `row` (and, if `below`, of the rows
    /// under it, highest first) that fit the datagram after `used` bytes of
    /// body.
    fn gather_rows(
        &self,
        row: usize,
        below: bool,
        used: usize,
        out: &mut Vec<Peer, MAX_ROW_ENTRIES>,
    ) {
        let mut budget = self.body_room(used);
        let lowest = if below { 0 } else { row };
        let mut take = |p: Peer, out: &mut Vec<Peer, MAX_ROW_ENTRIES>| {
            let need = peer_len(&p);
            let fits = need <= budget && out.push(p).is_ok();
            budget = budget.saturating_sub(need);
            fits
        };
        for r in (lowest..=row.min(ROWS - 1)).rev() {
            #[cfg(feature = "adversary")]
            {
                let mut fake = Vec::new();
                if self.eclipse_row(r, &mut fake) {
                    if !fake.into_iter().all(|p| take(p, out)) {
                        return;
                    }
                    continue;
                }
            }
            let Some(entries) = self.routing.table().row(r) else {
                continue;
            };
            for e in entries.iter().flatten() {
                if !take(e.peer, out) {
                    return;
                }
            }
        }
    }
}
