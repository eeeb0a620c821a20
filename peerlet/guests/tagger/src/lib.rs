//! A per-hop peerlet: a filter on the way. Every node that runs it drops
//! a message whose payload contains `spam`, and appends `+` to the others
//! (one per node that passed it on); at the end of the path it answers
//! the payload, so the sender sees how many nodes ran it.

#![no_std]

use pastry_peerlet_guest::{self as guest, BUFFER_LEN, Message, Verdict};

guest::per_hop!(forward);
guest::end_node!(deliver);

const BANNED: &[u8] = b"spam";

fn forward(m: Message<'_>, out: &mut [u8; BUFFER_LEN]) -> Verdict {
    if m.payload.windows(BANNED.len()).any(|w| w == BANNED) {
        guest::log("dropped a message");
        return Verdict::Stop;
    }
    let n = m.payload.len();
    if n + 1 > BUFFER_LEN - 60 {
        return Verdict::Continue;
    }
    out[..n].copy_from_slice(m.payload);
    out[n] = b'+';
    Verdict::Replace(n + 1)
}

fn deliver(m: Message<'_>) {
    guest::reply(m.payload);
}
