//! # pastry-store
//!
//! A [`Store`] for [`pastry_core`]'s DHT whose values survive a restart:
//! [`DiskStore`] keeps them in one [redb](https://docs.rs/redb) file, and
//! an index of them in memory.
//!
//! The contract is the core's (a newer version replaces an older one,
//! values that prove themselves are protected), plus durability: when
//! [`Store::insert`] returns `Ok`, the value is on disk (the commit was
//! flushed), so a node that acknowledges a put after storing it never
//! acknowledges one a crash can lose. A write the disk refuses is refused
//! to the DHT as [`StoreError::Full`] (PAST diverts the replica elsewhere)
//! and counted ([`DiskStore::write_errors`]); memory and disk never
//! disagree about what was acknowledged.
//!
//! Expiries ([`Meta::expires`], on the node's clock, which starts afresh
//! at each run) are kept on disk in wall-clock time: the store takes the
//! node's clock to start when it is opened, so open it as the node starts
//! (an error of the time between the two, milliseconds, against expiries
//! that count in seconds). A value whose time ran out while the node was
//! down is dropped at the node's first expiry sweep.
//!
//! Reads are served from memory: values are at most a datagram, and the
//! node's limits ([`DiskStore::open_with_limits`]) bound how many there
//! are, so the index costs what the in-memory store would.
//!
//! ```
//! use pastry_core::Id;
//! use pastry_core::dht::{Meta, Store};
//! use pastry_store::DiskStore;
//!
//! let dir = std::env::temp_dir().join(format!("pastry-store-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let key = Id::sha1(b"greeting");
//! {
//!     let mut store = DiskStore::open(&dir).unwrap();
//!     let meta = Meta { version: 3, ..Meta::default() };
//!     store.insert(key, meta, b"hello").unwrap();
//! } // closed, as by a restart
//! let store = DiskStore::open(&dir).unwrap();
//! let item = store.get(key).unwrap();
//! assert_eq!((item.meta.version, item.value), (3, &b"hello"[..]));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod record;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use pastry_core::Id;
use pastry_core::dht::{Item, MapStore, Meta, Store, StoreError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

/// The database's file name in a node's data directory.
pub const STORE_FILE: &str = "store.redb";

/// Key: the 20-byte id. Value: a [`record`] (meta, then the bytes).
const VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("values");

/// Values in a redb file, indexed in memory (see the crate docs).
pub struct DiskStore {
    db: Database,
    path: PathBuf,
    index: MapStore,
    clock: record::Clock,
    write_errors: u64,
    skipped: u64,
}

impl fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .field("values", &self.index.len())
            .field("write_errors", &self.write_errors)
            .finish()
    }
}

impl DiskStore {
    /// The store in `dir` ([`STORE_FILE`]), made if there is none, without
    /// limits.
    pub fn open(dir: &Path) -> io::Result<DiskStore> {
        DiskStore::open_with_limits(dir, usize::MAX, usize::MAX)
    }

    /// The store in `dir`, holding at most `max_values` values and
    /// `max_bytes` bytes of values; beyond them an insert is refused
    /// ([`StoreError::Full`]). Values already on disk beyond the limits
    /// (which were lowered since) are removed from it at opening.
    pub fn open_with_limits(
        dir: &Path,
        max_values: usize,
        max_bytes: usize,
    ) -> io::Result<DiskStore> {
        let path = dir.join(STORE_FILE);
        let db = Database::create(&path).map_err(io::Error::other)?;
        let mut store = DiskStore {
            db,
            path,
            index: MapStore::with_limits(max_values, max_bytes),
            clock: record::Clock(SystemTime::now()),
            write_errors: 0,
            skipped: 0,
        };
        store.load().map_err(io::Error::other)?;
        Ok(store)
    }

    /// Reads every record into the index; drops from the file what is
    /// unreadable or beyond the limits.
    fn load(&mut self) -> Result<(), redb::Error> {
        let mut dropped = Vec::new();
        {
            let read = self.db.begin_read()?;
            let table = match read.open_table(VALUES) {
                Ok(t) => t,
                // A new file: nothing stored yet.
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            for row in table.iter()? {
                let (k, v) = row?;
                let (k, v) = (k.value(), v.value());
                let parsed = record::key(k).zip(record::decode(v, self.clock));
                let kept = parsed.is_some_and(|(key, (meta, bytes))| {
                    self.index.insert(key, meta, bytes).is_ok()
                });
                if !kept {
                    dropped.push(k.to_vec());
                }
            }
        }
        if !dropped.is_empty() {
            self.skipped = dropped.len() as u64;
            let write = self.db.begin_write()?;
            {
                let mut table = write.open_table(VALUES)?;
                for k in &dropped {
                    table.remove(k.as_slice())?;
                }
            }
            write.commit()?;
        }
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Inserts and removes the disk refused (each refused to the DHT).
    pub fn write_errors(&self) -> u64 {
        self.write_errors
    }

    /// Records dropped at opening: unreadable, or beyond the limits.
    pub fn dropped_at_open(&self) -> u64 {
        self.skipped
    }

    /// Bytes of values held.
    pub fn bytes_used(&self) -> usize {
        self.index.bytes_used()
    }

    /// Writes one change and flushes it: `Some(bytes)` stores, `None`
    /// removes.
    fn write(&self, key: Id, change: Option<(Meta, &[u8])>) -> Result<(), redb::Error> {
        let write = self.db.begin_write()?;
        {
            let mut table = write.open_table(VALUES)?;
            let k = key.to_bytes();
            match change {
                Some((meta, value)) => {
                    table.insert(&k[..], record::encode(meta, value, self.clock).as_slice())?;
                }
                None => {
                    table.remove(&k[..])?;
                }
            }
        }
        // Durability::Immediate (the default): on disk when this returns.
        write.commit()?;
        Ok(())
    }
}

impl Store for DiskStore {
    fn get(&self, key: Id) -> Option<Item<'_>> {
        self.index.get(key)
    }

    fn insert(&mut self, key: Id, meta: Meta, value: &[u8]) -> Result<(), StoreError> {
        let old = self.index.get(key).map(|i| (i.meta, i.value.to_vec()));
        // The version rule and the limits first, in memory.
        self.index.insert(key, meta, value)?;
        if self.write(key, Some((meta, value))).is_ok() {
            return Ok(());
        }
        // Not on disk: undo, so what the node acknowledges is durable.
        self.write_errors += 1;
        self.index.remove(key);
        if let Some((meta, bytes)) = old {
            let restored = self.index.insert(key, meta, &bytes);
            debug_assert!(restored.is_ok(), "it was there a moment ago");
        }
        Err(StoreError::Full)
    }

    fn remove(&mut self, key: Id) -> bool {
        if self.index.get(key).is_none() {
            return false;
        }
        if self.write(key, None).is_err() {
            // Still on disk: keep it in memory too, so the two agree.
            self.write_errors += 1;
            return false;
        }
        self.index.remove(key)
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn first_from(&self, from: Id) -> Option<(Id, Meta)> {
        self.index.first_from(from)
    }
}
