//! Model checks of the mailbox (commands into the event loop, answers back)
//! under every interleaving loom explores: several producers, the loop
//! draining and sleeping, and shutdown. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p pastry-mio --release --test loom`.

#![cfg(loom)]

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use pastry_mio::mailbox::{SendError, Unanswered, Wake, mailbox, reply};

/// The loop's sleep: `wake` sets a flag and signals; `park` waits for it.
#[derive(Default)]
struct Parker {
    woken: Mutex<bool>,
    cv: Condvar,
}

struct Waker(Arc<Parker>);

impl Wake for Waker {
    fn wake(&self) {
        *self.0.woken.lock().unwrap() = true;
        self.0.cv.notify_one();
    }
}

/// Every model with at most 3 preemptions per execution: loom's usual
/// bound, enough for the races here (a push between the loop's clear and
/// its drain, a close between a send's check and its push) and minutes,
/// not hours, of search.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

fn park(p: &Parker) {
    let mut w = p.woken.lock().unwrap();
    while !*w {
        w = p.cv.wait(w).unwrap();
    }
    *w = false;
}

#[test]
fn no_wake_up_or_command_is_lost_or_duplicated() {
    model(|| {
        let parker = Arc::new(Parker::default());
        let (tx, rx) = mailbox::<u32>(8, Box::new(Waker(parker.clone())));
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    tx.send(p * 10).unwrap();
                    tx.send(p * 10 + 1).unwrap();
                })
            })
            .collect();
        drop(tx);
        // The loop: drain, and sleep only when nothing is left. A lost
        // wake-up leaves it asleep with commands queued: loom reports the
        // deadlock.
        let mut got = Vec::new();
        while got.len() < 4 {
            let more = rx.drain(usize::MAX, |c| got.push(c));
            if !more && got.len() < 4 {
                park(&parker);
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 10, 11]);
        // Nothing more arrives, and nothing was delivered twice.
        assert!(!rx.drain(usize::MAX, |c| panic!("extra command {c}")));
    });
}

#[test]
fn a_drain_capped_below_the_queue_says_more_is_left() {
    model(|| {
        let parker = Arc::new(Parker::default());
        let (tx, rx) = mailbox::<u32>(8, Box::new(Waker(parker.clone())));
        let t = {
            let tx = tx.clone();
            thread::spawn(move || {
                tx.send(1).unwrap();
                tx.send(2).unwrap();
            })
        };
        let mut got = Vec::new();
        while got.len() < 2 {
            // One at a time: the loop must come back without a wake-up
            // when it stopped early.
            if !rx.drain(1, |c| got.push(c)) && got.len() < 2 {
                park(&parker);
            }
        }
        t.join().unwrap();
        assert_eq!(got, vec![1, 2]);
    });
}

#[test]
fn shutdown_answers_every_caller() {
    model(|| {
        let parker = Arc::new(Parker::default());
        let (tx, rx) = mailbox(8, Box::new(Waker(parker.clone())));
        let callers: Vec<_> = (0..2)
            .map(|i| {
                let tx = tx.clone();
                thread::spawn(move || {
                    let (answer, wait) = reply::<u32>();
                    match tx.send((i, answer)) {
                        Ok(()) => wait.wait(),
                        // Handed back unsent: dropping it answers Stopped.
                        Err(SendError::Closed(c) | SendError::Full(c)) => {
                            drop(c);
                            wait.wait()
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        // The loop answers what one drain finds, then stops.
        let mut answered = 0;
        rx.drain(usize::MAX, |(i, answer): (u32, _)| {
            answer.send(i);
            answered += 1;
        });
        drop(rx.close());
        drop(rx);
        let outcomes: Vec<Result<u32, Unanswered>> =
            callers.into_iter().map(|c| c.join().unwrap()).collect();
        let ok = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(ok, answered, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(_) | Err(Unanswered::Stopped)))
        );
    });
}

#[test]
fn a_full_mailbox_refuses_and_hands_the_command_back() {
    model(|| {
        let parker = Arc::new(Parker::default());
        let (tx, rx) = mailbox::<u32>(1, Box::new(Waker(parker.clone())));
        tx.send(1).unwrap();
        assert_eq!(tx.send(2), Err(SendError::Full(2)));
        let mut got = Vec::new();
        rx.drain(usize::MAX, |c| got.push(c));
        assert_eq!(got, vec![1]);
        drop(rx);
        assert_eq!(tx.send(3), Err(SendError::Closed(3)));
    });
}
