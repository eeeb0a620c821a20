//! Secure puts and gets (the `secure-routing` feature): PAST's operations
//! over OSDI'02's `sec_route` (§5). The client finds the key's replica
//! roots by redundant routing ([`Kbr::secure_route`]) and the message goes
//! to each root straight, so no faulty node on a path, nor a faulty root,
//! stands in for the others.
//!
//! A put is stored by every root found (each only stores: it does not copy
//! on, the client reached the others itself); it completes, like a plain
//! put, at the quorum of acks, or at every root found if fewer. A get asks
//! every root. An answer that proves itself (its content hash, its owner's
//! signature) is taken at once; any other counts as one vote for its
//! version and bytes, and is taken only when more than half the roots
//! found voted for the same. When every root answered and nothing won, the
//! get ends [`DhtEvent::Disputed`]: a reader is never handed a value that
//! no majority of the replica set vouched for.

use sha1::{Digest, Sha1};

use super::msg::Msg;
use super::put::{How, id_tag};
use super::send::encode_and_secure_route;
use super::{APP, Dht, DhtError, DhtEvent, LOOKUP_APP, Meta, OpId, OpKind, PutAcks, Store, signed};
use crate::id::Id;
use crate::identity::{Keypair, PublicKey};
use crate::node::{Kbr, MAX_SECURE_ROOTS, Secured};
use crate::peer::Peer;
use crate::time::Instant;

/// A secure get's answers so far.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tally {
    /// The secure route that carries the get.
    lookup: u64,
    content: bool,
    signed: bool,
    /// Tags of the roots the lookup found; `found` of them, 0 until then.
    roots: [u32; MAX_SECURE_ROOTS],
    found: u8,
    /// Bit `i`: root `i` answered.
    answered: u8,
    /// Distinct plain answers: a digest of version and bytes, and votes.
    votes: [(u64, u8); MAX_SECURE_ROOTS],
    distinct: u8,
    /// Roots that answered "not found".
    absent: u8,
    /// Whether a second lookup was made (see `on_secure_answer`).
    retried: bool,
}

/// What one root's answer settles.
enum Verdict<'b> {
    Pending,
    Found(Meta, &'b [u8]),
    Absent,
    Disputed,
}

impl Tally {
    /// Takes `root`'s answer (`None`: not found).
    fn answer<'b>(&mut self, root: u32, answer: Option<(Meta, &'b [u8])>, key: Id) -> Verdict<'b> {
        let i = self.roots[..usize::from(self.found)]
            .iter()
            .position(|&t| t == root);
        let Some(i) = i.filter(|&i| self.answered & (1 << i) == 0) else {
            return Verdict::Pending;
        };
        self.answered |= 1 << i;
        let majority = |votes: u8| usize::from(votes) * 2 > usize::from(self.found);
        // A value that proves itself needs one correct root: faulty ones
        // saying "not found" end nothing while another may still answer.
        let proof_needed = self.proof_needed();
        if answer.is_none() {
            self.absent += 1;
            if majority(self.absent) && !proof_needed {
                return Verdict::Absent;
            }
        }
        if let Some((meta, value)) = answer.filter(|&(m, v)| self.admissible(key, m, v)) {
            if signed::proven(meta) {
                return Verdict::Found(meta, value);
            }
            let digest = digest(meta.version, value);
            let n = usize::from(self.distinct);
            let count = match self.votes[..n].iter_mut().find(|(d, _)| *d == digest) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    // One slot per root, and each root votes once.
                    self.votes[n] = (digest, 1);
                    self.distinct += 1;
                    1
                }
            };
            if majority(count) {
                return Verdict::Found(meta, value);
            }
        }
        match self.answered.count_ones() >= u32::from(self.found) {
            false => Verdict::Pending,
            true if proof_needed => Verdict::Absent,
            true => Verdict::Disputed,
        }
    }

    fn proof_needed(&self) -> bool {
        self.content || self.signed
    }

    /// Forgets the answers for a second lookup, `lookup`.
    fn again(&mut self, lookup: u64) {
        *self = Tally {
            lookup,
            retried: true,
            ..Tally::new(self.content, self.signed)
        };
    }

    fn new(content: bool, signed: bool) -> Tally {
        Tally {
            lookup: 0,
            content,
            signed,
            roots: [0; MAX_SECURE_ROOTS],
            found: 0,
            answered: 0,
            votes: [(0, 0); MAX_SECURE_ROOTS],
            distinct: 0,
            absent: 0,
            retried: false,
        }
    }

    /// Whether an answer may count: what it claims to prove checks, and a
    /// content-hash or signed get takes nothing that proves less.
    fn admissible(&self, key: Id, meta: Meta, value: &[u8]) -> bool {
        let proves = (meta.content || !self.content) && (meta.signed || !self.signed);
        proves && signed::checks(key, meta, value)
    }
}

/// SHA-1 of version and bytes, cut to 64 bits: a faulty root would need a
/// second preimage to join the honest roots' vote with other bytes.
fn digest(version: u64, value: &[u8]) -> u64 {
    let d = Sha1::new()
        .chain_update(version.to_be_bytes())
        .chain_update(value)
        .finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

impl<S: Store, const CACHE: usize, const CACHE_BYTES: usize> Dht<S, CACHE, CACHE_BYTES> {
    /// [`Dht::put`] through secure routing: stored on each of the key's
    /// k replica roots that redundant routing finds, however many faulty
    /// nodes lie on the paths. Completes with [`DhtEvent::Stored`] (at
    /// the quorum, or every root found if fewer) or
    /// [`DhtEvent::PutFailed`].
    pub fn secure_put(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
        version: u64,
        value: &[u8],
    ) -> Result<OpId, DhtError> {
        self.put_versioned((now, node), key, version, value, How::SECURE)
    }

    /// [`Dht::put_content`] through secure routing.
    pub fn secure_put_content(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        value: &[u8],
    ) -> Result<(Id, OpId), DhtError> {
        self.put_hashed((now, node), value, How::SECURE)
    }

    /// [`Dht::put_signed`] through secure routing.
    pub fn secure_put_signed(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        owner: &Keypair,
        (salt, version): (&[u8], u64),
        value: &[u8],
    ) -> Result<(Id, OpId), DhtError> {
        self.start_signed_put((now, node), owner, (salt, version), value, How::SECURE)
    }

    /// [`Dht::get`] through secure routing: asks each root redundant
    /// routing finds. A value that proves itself is taken from any root;
    /// a plain one only when more than half the roots found return it.
    /// Completes with [`DhtEvent::Found`], [`DhtEvent::Disputed`] (no
    /// majority), [`DhtEvent::NotFound`] (a majority lacks it) or
    /// [`DhtEvent::GetTimedOut`].
    pub fn secure_get(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
    ) -> Result<OpId, DhtError> {
        self.start_secure_get((now, node), key, false, false)
    }

    /// [`Dht::get_content`] through secure routing: only a value that
    /// hashes to `key` counts, from any root.
    pub fn secure_get_content(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        key: Id,
    ) -> Result<OpId, DhtError> {
        self.start_secure_get((now, node), key, true, false)
    }

    /// [`Dht::get_signed`] through secure routing: only a value `owner`
    /// signed counts, from any root.
    pub fn secure_get_signed(
        &mut self,
        now: Instant,
        node: &mut impl Kbr,
        owner: &PublicKey,
        salt: &[u8],
    ) -> Result<(Id, OpId), DhtError> {
        let key = super::get::signed_get_key(owner, salt)?;
        Ok((key, self.start_secure_get((now, node), key, false, true)?))
    }

    fn start_secure_get(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        key: Id,
        content: bool,
        signed: bool,
    ) -> Result<OpId, DhtError> {
        let op = self.admit_op(node)?;
        let lookup = self.send_secure_get((now, node), op, key)?;
        let tally = Tally {
            lookup,
            ..Tally::new(content, signed)
        };
        self.push_op(now, op, key, OpKind::SecureGet(tally));
        Ok(OpId(op))
    }

    /// Sends get `op` to each of `key`'s roots; the lookup.
    fn send_secure_get(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        op: u64,
        key: Id,
    ) -> Result<u64, DhtError> {
        let replicas = self.config.replicas;
        // `tried` at k: a root that lacks the key says so, it does not
        // ask the next replica (the client asks them all).
        let msg = Msg::Get {
            op,
            key,
            min_version: 0,
            tried: replicas.min(usize::from(super::msg::ON_THE_WAY - 1)) as u8,
            client: None,
        };
        encode_and_secure_route(
            (node, now),
            key,
            LOOKUP_APP,
            &msg,
            replicas,
            &mut self.stats,
        )
        .map_err(|_| DhtError::Busy)
    }

    /// `start_put`'s secure half: `msg` (a put marked `here`) to every
    /// root.
    pub(super) fn secure_put_sent(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        op: u64,
        key: Id,
        version: u64,
        msg: &Msg<'_>,
    ) -> Result<OpId, DhtError> {
        let replicas = self.config.replicas;
        let lookup = encode_and_secure_route((node, now), key, APP, msg, replicas, &mut self.stats)
            .map_err(|_| DhtError::Busy)?;
        let acks = PutAcks::new(version, self.config.quorum);
        self.push_op(now, op, key, OpKind::SecurePut { acks, lookup });
        Ok(OpId(op))
    }

    /// A secure lookup ended: if it carries one of our operations, that
    /// operation learns its roots. Whether it was ours.
    pub(super) fn on_secured(&mut self, s: &Secured<'_>) -> bool {
        let ours = |k: &OpKind| match k {
            OpKind::SecurePut { lookup, .. } => *lookup == s.op,
            OpKind::SecureGet(t) => t.lookup == s.op,
            _ => false,
        };
        let Some(i) = self.ops.iter().position(|o| ours(&o.kind)) else {
            return false;
        };
        let found = s.roots.len().min(MAX_SECURE_ROOTS);
        let o = &mut self.ops[i];
        let settled = match &mut o.kind {
            // No root found: it ends as if nobody answered.
            _ if found == 0 => Some(o.timed_out()),
            OpKind::SecurePut { acks, .. } => {
                // Every root it was sent to may count, and no more.
                acks.quorum = acks.quorum.min(found as u8);
                (acks.acks >= acks.quorum).then_some(DhtEvent::Stored {
                    op: OpId(o.id),
                    key: o.key,
                    replicas: acks.acks,
                })
            }
            OpKind::SecureGet(t) => {
                for (slot, root) in t.roots.iter_mut().zip(s.roots.iter()) {
                    *slot = id_tag(root.id);
                }
                t.found = found as u8;
                None
            }
            _ => None,
        };
        if let Some(ev) = settled {
            self.ops.swap_remove(i);
            // Room: admit_op keeps events + ops within capacity.
            let _ = self.events.push_back(ev);
        }
        true
    }

    /// A root's answer to secure get `op`, the `i`th operation (`None`:
    /// not found there).
    pub(super) fn on_secure_answer<'b>(
        &mut self,
        (now, node): (Instant, &mut impl Kbr),
        source: Peer,
        (i, op, key): (usize, u64, Id),
        answer: Option<(Meta, bool, &'b [u8])>,
    ) -> Option<DhtEvent<'b>> {
        let OpKind::SecureGet(t) = &mut self.ops[i].kind else {
            return None;
        };
        let before = t.answered;
        let verdict = t.answer(id_tag(source.id), answer.map(|(m, _, v)| (m, v)), key);
        if t.answered == before {
            self.stats.answers_not_counted += 1;
        }
        let (meta, value) = match verdict {
            Verdict::Pending => return None,
            Verdict::Absent if t.proof_needed() && !t.retried => {
                // No root had what only one correct root need have: the
                // lookup may have met faulty nodes' answers, or an answer
                // was lost. One more lookup before saying it does not
                // exist.
                match self.send_secure_get((now, node), op, key) {
                    Ok(lookup) => {
                        if let OpKind::SecureGet(t) = &mut self.ops[i].kind {
                            t.again(lookup);
                        }
                        self.stats.secure_retries += 1;
                        return None;
                    }
                    Err(_) => {
                        self.ops.swap_remove(i);
                        return Some(DhtEvent::NotFound { op: OpId(op), key });
                    }
                }
            }
            Verdict::Absent => {
                self.ops.swap_remove(i);
                return Some(DhtEvent::NotFound { op: OpId(op), key });
            }
            Verdict::Disputed => {
                self.ops.swap_remove(i);
                self.stats.disputed += 1;
                return Some(DhtEvent::Disputed { op: OpId(op), key });
            }
            Verdict::Found(meta, value) => (meta, value),
        };
        self.ops.swap_remove(i);
        let cached = answer.is_some_and(|(_, c, _)| c);
        let value = match meta.signed {
            true => signed::open(key, meta.version, value)?.value,
            false => value,
        };
        Some(DhtEvent::Found {
            op: OpId(op),
            key,
            version: meta.version,
            cached,
            value,
        })
    }
}
