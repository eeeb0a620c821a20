//! The DHT under the simulator: puts and gets issued from random live
//! nodes, each outcome judged against what the simulator knows was stored
//! (every value's bytes follow from its key and version, so a wrong or
//! stale answer is caught), and the global check that no value is lost (a
//! value is lost when no live node holds it).

use pastry_core::dht::{self, DhtEvent, DhtStats, OpId, PutError, Store};
use pastry_core::wire::{Body, Message};
use pastry_core::{Id, Instant};

use super::{DetMap, Sim};

/// The DHT workload of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// Values put (each a new random key).
    pub puts: usize,
    /// Gets, each of a random key already acknowledged.
    pub gets: usize,
    /// k: replicas per value.
    pub replicas: usize,
    /// Spare copies kept beyond k ([`DhtConfig::spares`](pastry_core::dht::DhtConfig::spares)).
    pub spares: usize,
    /// Of those, kept in sync like replicas
    /// ([`DhtConfig::eager_spares`](pastry_core::dht::DhtConfig::eager_spares)).
    pub eager_spares: usize,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Whether puts and gets go through secure routing, and with what
    /// values.
    pub secure: SecureDht,
}

/// Puts and gets through secure routing (#29), and the values they carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecureDht {
    /// Plain puts and gets.
    #[default]
    Off,
    /// Secure puts and gets of plain values: a get takes the majority.
    Plain,
    /// Secure puts and gets of content-hash values: a get takes any that
    /// hashes right.
    Content,
}

/// What the simulator expects from the DHT and what it saw.
#[derive(Clone, Debug, Default)]
pub struct Storage {
    ops: DetMap<(u32, OpId), Op>,
    /// Acknowledged values: key → version.
    acked: DetMap<Id, u64>,
    /// Their keys in the order acknowledged (random choice of a key).
    acked_keys: Vec<Id>,
    /// Value length of every put.
    pub value_bytes: usize,
    /// Whether puts and gets are secure, and of what values.
    pub secure: SecureDht,
    /// Counts.
    pub tally: Tally,
}

/// Outcomes counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Puts their node took (see `refused`).
    pub puts: u64,
    /// Puts that reached their quorum.
    pub puts_acked: u64,
    /// Puts that failed (timed out, stale, forged).
    pub puts_failed: u64,
    /// Of those, the ones that timed out.
    pub puts_timed_out: u64,
    /// Gets their node took.
    pub gets: u64,
    /// Gets that returned the value acknowledged (or a newer one).
    pub gets_ok: u64,
    /// Of those, the ones a cache on the path answered.
    pub gets_from_cache: u64,
    /// Gets answered "not found".
    pub gets_not_found: u64,
    /// Gets that returned other bytes or an older version.
    pub gets_wrong_value: u64,
    /// Gets with no answer in time.
    pub gets_timed_out: u64,
    /// Secure gets whose roots disagreed with no majority.
    pub gets_disputed: u64,
    /// Operations their node refused at once (`DhtError::Busy`: its
    /// message slots were full); an application would retry them.
    pub refused: u64,
    /// Operations whose node left or crashed before they completed.
    pub abandoned: u64,
    /// Of those, the puts: nobody is left to acknowledge them to, so a
    /// judge counts them neither way.
    pub puts_abandoned: u64,
}

#[derive(Clone, Copy, Debug)]
struct Op {
    key: Id,
    /// A put's version, or for a get the version acknowledged when it was
    /// sent (the least a right answer may carry).
    version: u64,
    put: bool,
}

/// A DHT outcome with its value already checked (so it owns nothing).
#[derive(Clone, Copy, Debug)]
pub struct Seen {
    op: OpId,
    key: Id,
    what: What,
}

#[derive(Clone, Copy, Debug)]
enum What {
    Stored,
    PutFailed,
    Found {
        version: u64,
        bytes_ok: bool,
        cached: bool,
    },
    NotFound,
    TimedOut,
    Disputed,
}

impl Seen {
    /// Summarises `ev`, checking a found value's bytes.
    pub fn of(ev: DhtEvent<'_>) -> Seen {
        let (op, key, what) = match ev {
            DhtEvent::Stored { op, key, .. } => (op, key, What::Stored),
            DhtEvent::PutFailed {
                op,
                key,
                error: PutError::TimedOut { .. },
            } => (op, key, What::TimedOut),
            DhtEvent::PutFailed { op, key, .. } => (op, key, What::PutFailed),
            DhtEvent::Found {
                op,
                key,
                version,
                value,
                cached,
            } => {
                // A content-hash value is the one that hashes to its key.
                let bytes_ok = value == expected_value(key, version, value.len()).as_slice()
                    || Id::sha1(value) == key;
                let found = What::Found {
                    version,
                    bytes_ok,
                    cached,
                };
                (op, key, found)
            }
            DhtEvent::NotFound { op, key } => (op, key, What::NotFound),
            DhtEvent::GetTimedOut { op, key } => (op, key, What::TimedOut),
            DhtEvent::Disputed { op, key } => (op, key, What::Disputed),
            other => unreachable!("a DHT event the simulator does not know: {other:?}"),
        };
        Seen { op, key, what }
    }
}

/// The bytes of `key`'s value at `version`: derived, so any node's answer
/// can be checked without keeping every value.
pub fn expected_value(key: Id, version: u64, len: usize) -> Vec<u8> {
    let seed = key.to_bytes();
    (0..len)
        .map(|i| seed[i % seed.len()] ^ (version as u8).wrapping_mul(31) ^ (i / 20) as u8)
        .collect()
}

/// Whether a datagram is DHT replica-maintenance traffic.
pub fn is_replication(datagram: &[u8]) -> bool {
    match super::snoop(datagram) {
        Ok(Message {
            app,
            body: Body::Routed(m),
            ..
        }) => app == dht::APP && dht::is_replication(m.payload),
        _ => false,
    }
}

impl Storage {
    /// Judges node `i`'s outcome `seen`.
    pub fn judge(&mut self, i: usize, seen: Seen) {
        let Some(op) = self.ops.remove(&(i as u32, seen.op)) else {
            return;
        };
        debug_assert_eq!(op.key, seen.key);
        let t = &mut self.tally;
        match seen.what {
            What::Stored if op.put => {
                t.puts_acked += 1;
                let v = self.acked.entry(op.key).or_insert(op.version);
                if *v == op.version {
                    self.acked_keys.push(op.key);
                }
                *v = (*v).max(op.version);
            }
            What::PutFailed => t.puts_failed += 1,
            What::Found {
                version,
                bytes_ok,
                cached,
            } => {
                if bytes_ok && version >= op.version {
                    t.gets_ok += 1;
                    t.gets_from_cache += u64::from(cached);
                } else {
                    t.gets_wrong_value += 1;
                }
            }
            What::NotFound => t.gets_not_found += 1,
            What::TimedOut if op.put => {
                t.puts_failed += 1;
                t.puts_timed_out += 1;
            }
            What::TimedOut => t.gets_timed_out += 1,
            What::Disputed => t.gets_disputed += 1,
            What::Stored => {}
        }
    }

    /// A random acknowledged key, if any.
    pub(super) fn random_acked(&self, r: u64) -> Option<Id> {
        if self.acked_keys.is_empty() {
            return None;
        }
        Some(self.acked_keys[(r % self.acked_keys.len() as u64) as usize])
    }
}

impl<const POOL: usize, const S: usize, const HALF: usize> Sim<POOL, S, HALF> {
    /// Node `i` puts a value of `len` bytes under a new random key.
    pub fn dht_put(&mut self, i: usize) {
        let seed = self.random_key();
        let value = expected_value(seed, 1, self.storage.value_bytes);
        let (key, version) = match self.storage.secure {
            SecureDht::Content => (Id::sha1(&value), 0),
            _ => (seed, 1),
        };
        let expect = Op {
            key,
            version,
            put: true,
        };
        let secure = self.storage.secure;
        self.dht_op(i, expect, |now, node, dht| {
            match secure {
                SecureDht::Off => dht.put(now, node, key, 1, &value),
                SecureDht::Plain => dht.secure_put(now, node, key, 1, &value),
                SecureDht::Content => dht.secure_put_content(now, node, &value).map(|(_, op)| op),
            }
            .ok()
        });
    }

    /// Node `i` gets a random acknowledged key (nothing if none yet).
    pub fn dht_get(&mut self, i: usize) {
        let r = self.rng.next_u64();
        let Some(key) = self.storage.random_acked(r) else {
            return;
        };
        let expect = Op {
            key,
            version: self.storage.acked[&key],
            put: false,
        };
        let secure = self.storage.secure;
        self.dht_op(i, expect, |now, node, dht| {
            match secure {
                SecureDht::Off => dht.get(now, node, key),
                SecureDht::Plain => dht.secure_get(now, node, key),
                SecureDht::Content => dht.secure_get_content(now, node, key),
            }
            .ok()
        });
    }

    /// Issues an operation at node `i` and records what to expect of it.
    fn dht_op(
        &mut self,
        i: usize,
        expect: Op,
        issue: impl FnOnce(
            Instant,
            &mut super::SimNode<POOL, S, HALF>,
            &mut dht::Dht<dht::MapStore>,
        ) -> Option<OpId>,
    ) {
        let now = self.now;
        let slot = &mut self.slots[i];
        let done = match slot.at(now) {
            Some((node, (Some(dht), _))) => issue(now, node, dht),
            _ => None,
        };
        let t = &mut self.storage.tally;
        match done {
            Some(op) => {
                *(if expect.put { &mut t.puts } else { &mut t.gets }) += 1;
                self.storage.ops.insert((i as u32, op), expect);
                self.drain(i);
            }
            None => t.refused += 1,
        }
    }

    /// Counts the operations of nodes that are gone as abandoned (call at
    /// the end of a run).
    pub fn abandon_orphans(&mut self) {
        let slots = &self.slots;
        let (before, mut puts) = (self.storage.ops.len(), 0);
        self.storage.ops.retain(|(i, _), op| {
            let alive = slots[*i as usize].host.is_some();
            puts += u64::from(!alive && op.put);
            alive
        });
        self.storage.tally.abandoned += (before - self.storage.ops.len()) as u64;
        self.storage.tally.puts_abandoned += puts;
    }

    /// The DHT counters of the live nodes, summed.
    pub fn dht_stats(&self) -> DhtStats {
        let mut sum = DhtStats::default();
        for d in self.slots.iter().filter_map(super::Slot::dht) {
            sum += *d.stats();
        }
        sum
    }

    /// The acknowledged keys, in the order acknowledged.
    pub fn acked_keys(&self) -> &[Id] {
        &self.storage.acked_keys
    }

    /// Live nodes whose store holds `key` (at any version): a scan of
    /// every slot, the brute force `values_lost` is checked against.
    pub fn holders(&self, key: Id) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| {
                self.slots[i]
                    .dht()
                    .is_some_and(|d| d.store().get(key).is_some())
            })
            .collect()
    }

    /// How many acknowledged values every correct one of their key's `k`
    /// closest live nodes holds, at the acknowledged version or newer (a
    /// secure put's promise, #29): a scan of those nodes' stores.
    pub fn on_every_correct_root(&self, k: usize) -> usize {
        self.storage
            .acked
            .iter()
            .filter(|&(&key, &version)| {
                self.truth.closest(key, k).iter().all(|&r| {
                    let r = r as usize;
                    self.is_faulty(r)
                        || self.slots[r]
                            .dht()
                            .and_then(|d| d.store().get(key))
                            .is_some_and(|it| it.meta.version >= version)
                })
            })
            .count()
    }

    /// Acknowledged values no live node holds (at the acknowledged
    /// version or newer), in key order, and how many values were
    /// acknowledged.
    pub fn values_lost(&self) -> (Vec<Id>, usize) {
        // The newest version any live node holds, per key: one pass over
        // the live stores rather than a search of every slot per value.
        let mut newest: DetMap<Id, u64> = DetMap::default();
        for d in self.slots.iter().filter_map(super::Slot::dht) {
            let mut next = d.store().first_from(Id::ZERO);
            while let Some((key, meta)) = next {
                let v = newest.entry(key).or_insert(meta.version);
                *v = (*v).max(meta.version);
                next = d.store().next_after(key);
            }
        }
        let mut lost: Vec<Id> = self
            .storage
            .acked
            .iter()
            .filter(|&(key, &version)| newest.get(key).is_none_or(|&v| v < version))
            .map(|(&key, _)| key)
            .collect();
        lost.sort_unstable();
        (lost, self.storage.acked.len())
    }
}
