//! The routing table (Pastry'01 §2.1, §2.5): row `r`, column `d` holds a
//! node that shares the first `r` digits with the local id and whose next
//! digit is `d`. Among candidates for a slot the one nearest in network
//! distance (measured round-trip time) is kept: the proximity invariant.
//!
//! Only the first `ROWS` rows are stored. A node sharing more digits is
//! numerically so close that it belongs to the leaf set.

use core::time::Duration;

use crate::id::{BASE, DIGITS, Id};
use crate::peer::Peer;

/// A measured round-trip time in microseconds, or unknown.
///
/// Unknown orders after every measurement, so a measured candidate always
/// beats an unmeasured entry and never the reverse.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Rtt(u32);

impl Rtt {
    /// Not measured yet.
    pub const UNKNOWN: Rtt = Rtt(u32::MAX);

    /// A measurement in microseconds (clamped below the unknown marker).
    pub const fn from_micros(micros: u32) -> Rtt {
        Rtt(if micros == u32::MAX {
            u32::MAX - 1
        } else {
            micros
        })
    }

    /// A measurement (saturating at about 71 minutes).
    pub fn from_duration(d: Duration) -> Rtt {
        Rtt::from_micros(u32::try_from(d.as_micros()).unwrap_or(u32::MAX))
    }

    /// Whether this is a measurement.
    pub fn is_known(self) -> bool {
        self != Rtt::UNKNOWN
    }

    /// The measurement, if any.
    pub fn as_duration(self) -> Option<Duration> {
        self.is_known()
            .then(|| Duration::from_micros(u64::from(self.0)))
    }
}

/// A routing-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The node.
    pub peer: Peer,
    /// Its round-trip time from the local node.
    pub rtt: Rtt,
}

/// What [`RoutingTable::consider`] did with a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Considered {
    /// The slot was empty; the candidate fills it.
    Inserted,
    /// The candidate is nearer than the entry it replaced.
    Replaced(Entry),
    /// The candidate is the entry already there; address and any new
    /// measurement were refreshed.
    Refreshed,
    /// The entry there is at least as near; the candidate was dropped.
    Kept,
    /// No slot for it: it is the local id or shares `ROWS` or more digits.
    NoSlot,
}

/// A routing table of `ROWS` rows (default 8) of [`BASE`] columns.
#[derive(Clone, Debug)]
pub struct RoutingTable<const ROWS: usize = 8> {
    own: Id,
    rows: [[Option<Entry>; BASE]; ROWS],
    len: usize,
}

impl<const ROWS: usize> RoutingTable<ROWS> {
    /// An empty table for the node with id `own`.
    pub fn new(own: Id) -> RoutingTable<ROWS> {
        const { assert!(ROWS >= 1 && ROWS <= DIGITS, "ROWS must be in 1..=40") };
        RoutingTable {
            own,
            rows: [[None; BASE]; ROWS],
            len: 0,
        }
    }

    /// The local id.
    pub fn own_id(&self) -> Id {
        self.own
    }

    /// The slot `(row, column)` a node with this id belongs in, if stored.
    pub fn slot(&self, id: Id) -> Option<(usize, usize)> {
        let row = self.own.shared_prefix_len(id);
        (row < ROWS).then(|| (row, usize::from(id.digit(row))))
    }

    /// Offers `peer`, with round-trip time `rtt` if measured, for its slot.
    /// It replaces the entry there only if strictly nearer (the proximity
    /// invariant); the same node refreshes its address and measurement.
    pub fn consider(&mut self, peer: Peer, rtt: Rtt) -> Considered {
        let Some((row, col)) = self.slot(peer.id) else {
            return Considered::NoSlot;
        };
        let slot = &mut self.rows[row][col];
        match slot {
            None => {
                *slot = Some(Entry { peer, rtt });
                self.len += 1;
                Considered::Inserted
            }
            Some(e) if e.peer.id == peer.id => {
                e.peer.addr = peer.addr;
                if rtt.is_known() {
                    e.rtt = rtt;
                }
                Considered::Refreshed
            }
            Some(e) if rtt < e.rtt => {
                let old = *e;
                *e = Entry { peer, rtt };
                Considered::Replaced(old)
            }
            Some(_) => Considered::Kept,
        }
    }

    /// Records a new round-trip measurement for a node in the table.
    pub fn set_rtt(&mut self, id: Id, rtt: Rtt) -> bool {
        match self.entry_mut(id) {
            Some(e) => {
                e.rtt = rtt;
                true
            }
            None => false,
        }
    }

    /// Removes the node with this id; the entry it had.
    pub fn remove(&mut self, id: Id) -> Option<Entry> {
        let (row, col) = self.slot(id)?;
        let slot = &mut self.rows[row][col];
        if slot.is_some_and(|e| e.peer.id == id) {
            self.len -= 1;
            slot.take()
        } else {
            None
        }
    }

    /// The entry for the node with this id.
    pub fn get(&self, id: Id) -> Option<&Entry> {
        let (row, col) = self.slot(id)?;
        self.rows[row][col].as_ref().filter(|e| e.peer.id == id)
    }

    fn entry_mut(&mut self, id: Id) -> Option<&mut Entry> {
        let (row, col) = self.slot(id)?;
        self.rows[row][col].as_mut().filter(|e| e.peer.id == id)
    }

    /// Whether the node with this id is in the table.
    pub fn contains(&self, id: Id) -> bool {
        self.get(id).is_some()
    }

    /// The entry at `(row, col)`; `None` when empty or out of range.
    pub fn at(&self, row: usize, col: usize) -> Option<&Entry> {
        self.rows.get(row)?.get(col)?.as_ref()
    }

    /// Row `row` (empty slots are `None`); `None` past the stored rows.
    pub fn row(&self, row: usize) -> Option<&[Option<Entry>; BASE]> {
        self.rows.get(row)
    }

    /// The entry Pastry routes `key` to: row = digits shared with the local
    /// id, column = the key's next digit (Pastry'01 §2.2).
    pub fn next_hop_entry(&self, key: Id) -> Option<&Entry> {
        let (row, col) = self.slot(key)?;
        self.rows[row][col].as_ref()
    }

    /// Every entry with its `(row, column)`.
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, &Entry)> + '_ {
        self.rows.iter().enumerate().flat_map(|(r, row)| {
            row.iter()
                .enumerate()
                .filter_map(move |(c, e)| e.as_ref().map(|e| (r, c, e)))
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows stored.
    pub const fn rows(&self) -> usize {
        ROWS
    }
}
