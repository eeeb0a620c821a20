//! The routing table (Pastry'01 §2.1, §2.5): row `r`, column `d` holds a
//! node that shares the first `r` digits with the local id and whose next
//! digit is `d`. Among candidates for a slot the one nearest in network
//! distance (measured round-trip time) is kept: the proximity invariant.
//!
//! With the `table-spares` feature (on with `std`), each slot also keeps a
//! spare: the nearest other candidate offered for it (FreePastry keeps a
//! set per slot). Under churn a third of the entries can be of departed
//! nodes before a message trips on one (#32: 1,000 nodes at 10-minute
//! sessions); a message whose entry is silent goes to the spare and still
//! gains a digit, rather than falling back to a node that gains none
//! (Pastry'01 §2.2's rare case), and a failed entry's spare takes its
//! place at once. Spares double the table's memory (3.5 KiB in the
//! embedded node's 4 rows), so the embedded build leaves them out.
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
    /// The entry there is at least as near; the candidate is the slot's
    /// spare now (or was already, refreshed).
    Spare,
    /// The entry and the spare there are at least as near; the candidate
    /// was dropped.
    Kept,
    /// No slot for it: it is the local id or shares `ROWS` or more digits.
    NoSlot,
}

/// A routing table of `ROWS` rows (default 8) of [`BASE`] columns.
#[derive(Clone, Debug)]
pub struct RoutingTable<const ROWS: usize = 8> {
    own: Id,
    rows: [[Option<Entry>; BASE]; ROWS],
    /// Each slot's spare; only a slot with an entry has one.
    #[cfg(feature = "table-spares")]
    spares: [[Option<Entry>; BASE]; ROWS],
    /// No spares: every lookup of one finds none.
    #[cfg(not(feature = "table-spares"))]
    spares: [[Option<Entry>; BASE]; 0],
    len: usize,
}

impl<const ROWS: usize> RoutingTable<ROWS> {
    /// An empty table for the node with id `own`.
    pub fn new(own: Id) -> RoutingTable<ROWS> {
        const { assert!(ROWS >= 1 && ROWS <= DIGITS, "ROWS must be in 1..=40") };
        RoutingTable {
            own,
            rows: [[None; BASE]; ROWS],
            spares: core::array::from_fn(|_| [None; BASE]),
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
    /// invariant), and the entry it replaces becomes the spare; else it
    /// becomes the spare if strictly nearer than the spare. The same node
    /// refreshes its address and measurement, and a spare measured
    /// strictly nearer than the entry changes places with it (an entry
    /// re-measured farther than its spare too).
    pub fn consider(&mut self, peer: Peer, rtt: Rtt) -> Considered {
        let Some((row, col)) = self.slot(peer.id) else {
            return Considered::NoSlot;
        };
        let slot = &mut self.rows[row][col];
        // `None` when spares are not kept.
        let mut spare = self.spares.get_mut(row).map(|r| &mut r[col]);
        let fresh = Entry { peer, rtt };
        let refresh = |e: &mut Entry| {
            e.peer.addr = peer.addr;
            if rtt.is_known() {
                e.rtt = rtt;
            }
        };
        let held = spare.as_deref_mut().and_then(Option::as_mut);
        match (slot.as_mut(), held) {
            (None, _) => {
                *slot = Some(fresh);
                self.len += 1;
                Considered::Inserted
            }
            (Some(e), held) if e.peer.id == peer.id => {
                refresh(e);
                // Measured farther than its spare: they change places.
                if let Some(s) = held.filter(|s| s.rtt < e.rtt) {
                    core::mem::swap(e, s);
                }
                Considered::Refreshed
            }
            (Some(e), Some(s)) if s.peer.id == peer.id => {
                refresh(s);
                if s.rtt < e.rtt {
                    // Measured nearer than the entry: they change places.
                    core::mem::swap(e, s);
                    return Considered::Replaced(*s);
                }
                Considered::Spare
            }
            (Some(e), _) if rtt < e.rtt => {
                let old = core::mem::replace(e, fresh);
                if let Some(spare) = spare {
                    *spare = Some(old);
                }
                Considered::Replaced(old)
            }
            (Some(_), Some(s)) if rtt >= s.rtt => Considered::Kept,
            (Some(_), _) => match spare {
                Some(spare) => {
                    *spare = Some(fresh);
                    Considered::Spare
                }
                None => Considered::Kept,
            },
        }
    }

    /// `set_rtt`'s re-measurement may have made the spare nearer than the
    /// entry.
    fn order(&mut self, row: usize, col: usize) {
        let slot = &mut self.rows[row][col];
        let spare = self.spares.get_mut(row).and_then(|r| r[col].as_mut());
        if let (Some(e), Some(s)) = (slot.as_mut(), spare) {
            if s.rtt < e.rtt {
                core::mem::swap(e, s);
            }
        }
    }

    /// The slot's spare for the node with this id, if it is one.
    pub fn spare(&self, id: Id) -> Option<&Entry> {
        let (row, col) = self.slot(id)?;
        self.spare_at(row, col).filter(|e| e.peer.id == id)
    }

    /// The spare of slot `(row, col)`.
    pub fn spare_at(&self, row: usize, col: usize) -> Option<&Entry> {
        self.spares.get(row)?.get(col)?.as_ref()
    }

    /// A node in the table (entry or spare) is reached at a new address.
    pub fn readdress(&mut self, peer: Peer) {
        if let Some(e) = self.entry_mut(peer.id) {
            e.peer.addr = peer.addr;
        }
    }

    /// Records a new round-trip measurement for a node in the table
    /// (entry or spare; a spare now nearer than the entry takes its place).
    pub fn set_rtt(&mut self, id: Id, rtt: Rtt) -> bool {
        let Some((row, col)) = self.slot(id) else {
            return false;
        };
        match self.entry_mut(id) {
            Some(e) => e.rtt = rtt,
            None => return false,
        }
        self.order(row, col);
        true
    }

    /// Removes the node with this id, entry or spare; the entry it had. A
    /// removed entry's spare takes its place.
    pub fn remove(&mut self, id: Id) -> Option<Entry> {
        let (row, col) = self.slot(id)?;
        let slot = &mut self.rows[row][col];
        let spare = self.spares.get_mut(row).map(|r| &mut r[col]);
        if slot.is_some_and(|e| e.peer.id == id) {
            let old = core::mem::replace(slot, spare.and_then(Option::take));
            if slot.is_none() {
                self.len -= 1;
            }
            old
        } else {
            spare.filter(|s| s.is_some_and(|e| e.peer.id == id))?.take()
        }
    }

    /// The entry or spare for the node with this id.
    pub fn get(&self, id: Id) -> Option<&Entry> {
        let (row, col) = self.slot(id)?;
        let held = |e: &&Entry| e.peer.id == id;
        (self.rows[row][col].as_ref().filter(held)).or(self.spare_at(row, col).filter(held))
    }

    fn entry_mut(&mut self, id: Id) -> Option<&mut Entry> {
        let (row, col) = self.slot(id)?;
        let held = |e: &&mut Entry| e.peer.id == id;
        let spare = self.spares.get_mut(row).and_then(|r| r[col].as_mut());
        (self.rows[row][col].as_mut().filter(held)).or(spare.filter(held))
    }

    /// Whether the node with this id is in the table (entry or spare).
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

    /// The spare of [`Self::next_hop_entry`]'s slot.
    pub fn next_hop_spare(&self, key: Id) -> Option<&Entry> {
        let (row, col) = self.slot(key)?;
        self.spare_at(row, col)
    }

    /// Every spare with its `(row, column)`.
    pub fn spares(&self) -> impl Iterator<Item = (usize, usize, &Entry)> + '_ {
        self.spares.iter().enumerate().flat_map(|(r, row)| {
            row.iter()
                .enumerate()
                .filter_map(move |(c, e)| e.as_ref().map(|e| (r, c, e)))
        })
    }

    /// Every entry with its `(row, column)` (spares not included).
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, &Entry)> + '_ {
        self.rows.iter().enumerate().flat_map(|(r, row)| {
            row.iter()
                .enumerate()
                .filter_map(move |(c, e)| e.as_ref().map(|e| (r, c, e)))
        })
    }

    /// Number of entries (slots filled; spares not counted).
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
