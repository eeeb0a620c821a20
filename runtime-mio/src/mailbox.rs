//! How commands reach the event loop from any thread, and how answers come
//! back: a bounded queue with a wake-up, and one-shot reply slots. This
//! module knows nothing of the protocol, so it can be model-checked: under
//! `--cfg loom` it is built on loom's types, and `tests/loom.rs` explores
//! the interleavings of several producers, the loop draining, wake-ups and
//! shutdown.
//!
//! The wake-up rule: a producer pushes, then sets `notified`; only the
//! producer that turns it from false to true calls the waker (so a burst
//! costs one system call). The loop clears `notified` *before* it drains,
//! so a push it does not see in this drain has set the flag again and
//! woken it. Hence no lost wake-up, and at most one spurious one.

use std::collections::VecDeque;

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, Ordering};
#[cfg(loom)]
use loom::sync::{Arc, Condvar, Mutex};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(not(loom))]
use std::sync::{Arc, Condvar, Mutex};

/// What wakes the loop (a `mio::Waker` in the runtime; a test double in
/// the model tests).
pub trait Wake: Send + Sync {
    /// Makes the loop's next (or current) wait return.
    fn wake(&self);
}

/// Why a command was not queued; it is handed back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// The queue holds its capacity; the caller may retry later.
    Full(T),
    /// The loop has stopped.
    Closed(T),
}

struct Queue<T> {
    items: VecDeque<T>,
    closed: bool,
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    capacity: usize,
    notified: AtomicBool,
    waker: Box<dyn Wake>,
}

/// The producers' side; clone it for each thread.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mailbox::Sender")
    }
}

/// The loop's side.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mailbox::Receiver")
    }
}

/// A mailbox holding up to `capacity` commands, waking the loop with
/// `waker` when one arrives.
pub fn mailbox<T>(capacity: usize, waker: Box<dyn Wake>) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            items: VecDeque::new(),
            closed: false,
        }),
        capacity: capacity.max(1),
        notified: AtomicBool::new(false),
        waker,
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Queues `item` and wakes the loop if it may be asleep.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        {
            let mut q = self.shared.queue.lock().expect("mailbox lock");
            if q.closed {
                return Err(SendError::Closed(item));
            }
            if q.items.len() >= self.shared.capacity {
                return Err(SendError::Full(item));
            }
            q.items.push_back(item);
        }
        if !self.shared.notified.swap(true, Ordering::AcqRel) {
            self.shared.waker.wake();
        }
        Ok(())
    }

    /// Whether the loop has stopped taking commands.
    pub fn is_closed(&self) -> bool {
        self.shared.queue.lock().expect("mailbox lock").closed
    }
}

impl<T> Receiver<T> {
    /// Takes up to `max` commands, oldest first. Returns whether more were
    /// left (the loop should not sleep before taking them).
    pub fn drain(&self, max: usize, mut f: impl FnMut(T)) -> bool {
        // Cleared before looking: a push this drain misses sets it again
        // and wakes the loop (the module's wake-up rule). A swap, not a
        // store: reading the flag a producer set makes its push visible
        // here. With a plain store, loom found a run where a producer's
        // flag was overwritten and its push not yet seen: a lost wake-up.
        self.shared.notified.swap(false, Ordering::AcqRel);
        let mut taken = 0;
        while taken < max {
            let item = self
                .shared
                .queue
                .lock()
                .expect("mailbox lock")
                .items
                .pop_front();
            match item {
                Some(item) => {
                    f(item);
                    taken += 1;
                }
                None => return false,
            }
        }
        !self
            .shared
            .queue
            .lock()
            .expect("mailbox lock")
            .items
            .is_empty()
    }

    /// Stops taking commands and hands back those still queued (the loop
    /// answers each); later sends fail with [`SendError::Closed`].
    pub fn close(&self) -> Vec<T> {
        let mut q = self.shared.queue.lock().expect("mailbox lock");
        q.closed = true;
        q.items.drain(..).collect()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Commands queued after the loop ended are dropped here, and with
        // them their reply slots: every caller hears Stopped.
        drop(self.close());
    }
}

enum Slot<T> {
    Waiting,
    Ready(T),
    /// The loop dropped the reply without answering (it stopped).
    Dropped,
}

struct ReplyShared<T> {
    slot: Mutex<Slot<T>>,
    ready: Condvar,
}

/// The loop's end of a one-shot answer. Dropping it unanswered tells the
/// caller the node stopped.
pub struct ReplyTx<T> {
    shared: Option<Arc<ReplyShared<T>>>,
}

/// The caller's end of a one-shot answer.
pub struct ReplyRx<T> {
    shared: Arc<ReplyShared<T>>,
}

impl<T> std::fmt::Debug for ReplyTx<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyTx")
    }
}

impl<T> std::fmt::Debug for ReplyRx<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyRx")
    }
}

/// A one-shot answer: the loop sends, the caller waits.
pub fn reply<T>() -> (ReplyTx<T>, ReplyRx<T>) {
    let shared = Arc::new(ReplyShared {
        slot: Mutex::new(Slot::Waiting),
        ready: Condvar::new(),
    });
    (
        ReplyTx {
            shared: Some(shared.clone()),
        },
        ReplyRx { shared },
    )
}

impl<T> ReplyTx<T> {
    /// Answers the caller (who may have stopped waiting; then nothing
    /// happens).
    pub fn send(mut self, value: T) {
        if let Some(s) = self.shared.take() {
            *s.slot.lock().expect("reply lock") = Slot::Ready(value);
            s.ready.notify_all();
        }
    }
}

impl<T> Drop for ReplyTx<T> {
    fn drop(&mut self) {
        if let Some(s) = self.shared.take() {
            let mut slot = s.slot.lock().expect("reply lock");
            if matches!(*slot, Slot::Waiting) {
                *slot = Slot::Dropped;
            }
            drop(slot);
            s.ready.notify_all();
        }
    }
}

/// Why a wait for an answer ended without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// The loop stopped before answering.
    Stopped,
    /// The time given ran out.
    TimedOut,
}

impl<T> ReplyRx<T> {
    /// Waits for the answer.
    pub fn wait(self) -> Result<T, Unanswered> {
        let mut slot = self.shared.slot.lock().expect("reply lock");
        loop {
            match std::mem::replace(&mut *slot, Slot::Waiting) {
                Slot::Ready(v) => return Ok(v),
                Slot::Dropped => return Err(Unanswered::Stopped),
                Slot::Waiting => slot = self.shared.ready.wait(slot).expect("reply lock"),
            }
        }
    }

    /// Waits for the answer at most `limit`.
    pub fn wait_timeout(self, limit: std::time::Duration) -> Result<T, Unanswered> {
        let until = std::time::Instant::now() + limit;
        let mut slot = self.shared.slot.lock().expect("reply lock");
        loop {
            match std::mem::replace(&mut *slot, Slot::Waiting) {
                Slot::Ready(v) => return Ok(v),
                Slot::Dropped => return Err(Unanswered::Stopped),
                Slot::Waiting => {
                    let left = until.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(Unanswered::TimedOut);
                    }
                    slot = self
                        .shared
                        .ready
                        .wait_timeout(slot, left)
                        .expect("reply lock")
                        .0;
                }
            }
        }
    }
}
