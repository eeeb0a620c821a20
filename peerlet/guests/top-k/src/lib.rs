//! An end-node peerlet that keeps, for every key, the most frequent words
//! sent to it, with the Space-Saving algorithm (Metwally, Agrawal and El
//! Abbadi, ICDT 2005): `SLOTS` counters per key; a new word takes the
//! smallest counter's slot and its count plus one, so a word's count is
//! exact while the key has seen at most `SLOTS` distinct words, and never
//! under its true count after. Each message's payload is one word; the
//! answer is the top three as `word=count` separated by spaces.

#![no_std]

use pastry_peerlet_guest::{self as guest, Message};

/// Counters per key.
const SLOTS: usize = 8;
/// Longest word kept (longer ones are cut).
const WORD: usize = 24;
/// One slot: count (4), word length (1), word.
const SLOT: usize = 4 + 1 + WORD;

guest::end_node!(deliver);

fn deliver(m: Message<'_>) {
    let word = &m.payload[..m.payload.len().min(WORD)];
    if word.is_empty() {
        return;
    }
    let mut table = [0u8; SLOTS * SLOT];
    let have = guest::store_get(&m.key, &mut table).unwrap_or(0);
    if have != table.len() {
        table = [0; SLOTS * SLOT];
    }
    let count = |t: &[u8; SLOTS * SLOT], i: usize| {
        u32::from_le_bytes([
            t[i * SLOT],
            t[i * SLOT + 1],
            t[i * SLOT + 2],
            t[i * SLOT + 3],
        ])
    };
    let word_of = |t: &[u8; SLOTS * SLOT], i: usize| {
        let n = usize::from(t[i * SLOT + 4]).min(WORD);
        (i * SLOT + 5, n)
    };
    let found = (0..SLOTS).find(|&i| {
        let (at, n) = word_of(&table, i);
        count(&table, i) > 0 && &table[at..at + n] == word
    });
    let i = match found {
        Some(i) => i,
        None => {
            // The smallest counter's slot (an empty one first).
            let i = (0..SLOTS).min_by_key(|&i| count(&table, i)).unwrap_or(0);
            let at = i * SLOT + 5;
            table[i * SLOT + 4] = word.len() as u8;
            table[at..at + word.len()].copy_from_slice(word);
            i
        }
    };
    let c = count(&table, i).saturating_add(1);
    table[i * SLOT..i * SLOT + 4].copy_from_slice(&c.to_le_bytes());
    guest::store_put(&m.key, &table);

    // The answer: the three largest counts, ties by slot.
    let mut order = [0usize, 1, 2, 3, 4, 5, 6, 7];
    order.sort_unstable_by(|&a, &b| count(&table, b).cmp(&count(&table, a)).then(a.cmp(&b)));
    let mut out = [0u8; 3 * (WORD + 12)];
    let mut n = 0;
    for &j in order.iter().take(3).filter(|&&j| count(&table, j) > 0) {
        if n > 0 {
            out[n] = b' ';
            n += 1;
        }
        let (at, len) = word_of(&table, j);
        out[n..n + len].copy_from_slice(&table[at..at + len]);
        n += len;
        out[n] = b'=';
        n += 1;
        n += write_u32(&mut out[n..], count(&table, j));
    }
    guest::reply(&out[..n]);
}

/// Writes `v` in decimal; the digits written.
fn write_u32(out: &mut [u8], mut v: u32) -> usize {
    let mut digits = [0u8; 10];
    let mut k = 0;
    loop {
        digits[k] = b'0' + (v % 10) as u8;
        k += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..k {
        out[i] = digits[k - 1 - i];
    }
    k
}
