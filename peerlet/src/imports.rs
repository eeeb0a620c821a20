//! The host's side of the ABI ([`crate::abi`]): each peerlet's state as
//! its host functions see it, and the functions themselves. Every call
//! costs fuel and checks every pointer against the guest's memory; a bad
//! one traps the call, it never reaches the node.

use std::collections::BTreeMap;

use pastry_core::rng::SmallRng;
use pastry_core::{Id, Instant};
use wasmi::{Caller, Extern, Linker, Memory, StoreLimits, TrapCode};

use crate::abi::{self, HOST_CALL_FUEL, REFUSED};
use crate::budget::Budget;
use crate::sandbox::{
    Effects, MAX_LOG_LINE, MAX_LOGS_PER_CALL, MAX_SENDS_PER_CALL, MAX_STORE_KEY, Send, View,
};

/// The host side of one peerlet: its store, allowance and the effects of
/// the call under way.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) limits: StoreLimits,
    pub(crate) store: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) store_used: usize,
    pub(crate) store_cap: usize,
    pub(crate) now: Instant,
    pub(crate) rng: SmallRng,
    pub(crate) timer: Option<Instant>,
    pub(crate) view: View,
    pub(crate) source: Option<Id>,
    pub(crate) effects: Effects,
    /// Send allowance: tokens and when the next one accrues.
    pub(crate) tokens: u32,
    pub(crate) refill_at: Instant,
    pub(crate) budget: Budget,
}

impl Host {
    /// Takes one send token (a token bucket: `send_burst` at once, one
    /// more every `send_refill`), within the call's allowance.
    pub(crate) fn take_token(&mut self) -> bool {
        let (burst, every) = (self.budget.send_burst, self.budget.send_refill);
        if every.is_zero() {
            self.tokens = burst;
        }
        while self.tokens < burst && self.refill_at <= self.now {
            self.tokens += 1;
            self.refill_at += every;
        }
        if self.tokens == burst {
            // A full bucket accrues nothing: the next token comes one
            // interval after this one is spent.
            self.refill_at = self.now + every;
        }
        if self.tokens == 0 || self.effects.sends.len() >= MAX_SENDS_PER_CALL {
            self.effects.refused += 1;
            return false;
        }
        self.tokens -= 1;
        true
    }
}

type Ctx<'a> = Caller<'a, Host>;

fn memory(c: &Ctx<'_>) -> Result<Memory, wasmi::Error> {
    match c.get_export(abi::MEMORY) {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(wasmi::Error::new("no memory")),
    }
}

/// Charges a host call's fuel.
fn charge(c: &mut Ctx<'_>) -> Result<(), wasmi::Error> {
    let left = c.get_fuel()?;
    if left < HOST_CALL_FUEL {
        return Err(TrapCode::OutOfFuel.into());
    }
    c.set_fuel(left - HOST_CALL_FUEL)
}

fn range(ptr: i32, len: i32) -> Result<core::ops::Range<usize>, wasmi::Error> {
    let (p, l) = (usize::try_from(ptr), usize::try_from(len));
    match (p, l) {
        (Ok(p), Ok(l)) => Ok(p..p.checked_add(l).ok_or(TrapCode::MemoryOutOfBounds)?),
        _ => Err(TrapCode::MemoryOutOfBounds.into()),
    }
}

fn read(c: &Ctx<'_>, ptr: i32, len: i32) -> Result<Vec<u8>, wasmi::Error> {
    let m = memory(c)?;
    let r = range(ptr, len)?;
    Ok(m.data(c)
        .get(r)
        .ok_or(TrapCode::MemoryOutOfBounds)?
        .to_vec())
}

fn read_id(c: &Ctx<'_>, ptr: i32) -> Result<Id, wasmi::Error> {
    let b = read(c, ptr, 20)?;
    let mut id = [0u8; 20];
    id.copy_from_slice(&b);
    Ok(Id::from_bytes(id))
}

fn write(c: &mut Ctx<'_>, ptr: i32, bytes: &[u8]) -> Result<(), wasmi::Error> {
    let m = memory(c)?;
    let r = range(ptr, bytes.len() as i32)?;
    m.data_mut(c)
        .get_mut(r)
        .ok_or(TrapCode::MemoryOutOfBounds)?
        .copy_from_slice(bytes);
    Ok(())
}

/// Writes `ids` (20 bytes each) at `out`, as many as fit in `cap` bytes.
fn write_ids(c: &mut Ctx<'_>, ids: &[Id], out: i32, cap: i32) -> Result<i32, wasmi::Error> {
    let cap = usize::try_from(cap).map_err(|_| TrapCode::MemoryOutOfBounds)?;
    let n = ids.len().min(cap / 20);
    let bytes: Vec<u8> = ids[..n].iter().flat_map(|id| id.to_bytes()).collect();
    write(c, out, &bytes)?;
    Ok(n as i32)
}

fn store_size(k: &[u8], v: &[u8]) -> usize {
    k.len() + v.len()
}

/// Defines every host function of the ABI ([`crate::abi`]) in `l`.
pub(crate) fn link(l: &mut Linker<Host>) {
    let m = abi::MODULE;
    // Each definition is unique by name: `func_wrap` fails only on a
    // duplicate, which would be a bug here.
    let ok = |r: Result<&mut Linker<Host>, wasmi::errors::LinkerError>| {
        debug_assert!(r.is_ok(), "host functions are defined once");
    };
    ok(l.func_wrap(
        m,
        "route",
        |mut c: Ctx<'_>, key: i32, ptr: i32, len: i32| {
            charge(&mut c)?;
            let key = read_id(&c, key)?;
            if usize::try_from(len).is_ok_and(|l| l > pastry_core::node::MAX_PAYLOAD) {
                return Ok(REFUSED);
            }
            let payload = read(&c, ptr, len)?;
            if !c.data_mut().take_token() {
                return Ok(REFUSED);
            }
            c.data_mut()
                .effects
                .sends
                .push(Send::Route { key, payload });
            Ok(0)
        },
    ));
    ok(
        l.func_wrap(m, "reply", |mut c: Ctx<'_>, ptr: i32, len: i32| {
            charge(&mut c)?;
            if c.data().source.is_none()
                || usize::try_from(len).is_ok_and(|l| l > pastry_core::node::MAX_PAYLOAD)
            {
                return Ok(REFUSED);
            }
            let payload = read(&c, ptr, len)?;
            if !c.data_mut().take_token() {
                return Ok(REFUSED);
            }
            c.data_mut().effects.sends.push(Send::Reply { payload });
            Ok(0)
        }),
    );
    ok(l.func_wrap(
        m,
        "store_get",
        |mut c: Ctx<'_>, k: i32, klen: i32, out: i32, cap: i32| {
            charge(&mut c)?;
            let key = read(&c, k, klen)?;
            let Some(v) = c.data().store.get(&key).cloned() else {
                return Ok(-1);
            };
            let cap = usize::try_from(cap).map_err(|_| TrapCode::MemoryOutOfBounds)?;
            write(&mut c, out, &v[..v.len().min(cap)])?;
            Ok(v.len() as i32)
        },
    ));
    ok(l.func_wrap(
        m,
        "store_put",
        |mut c: Ctx<'_>, k: i32, klen: i32, v: i32, vlen: i32| {
            charge(&mut c)?;
            if usize::try_from(klen).is_ok_and(|l| l > MAX_STORE_KEY) {
                return Ok(REFUSED);
            }
            let key = read(&c, k, klen)?;
            let value = read(&c, v, vlen)?;
            let h = c.data_mut();
            let old = h.store.get(&key).map_or(0, |o| store_size(&key, o));
            let new = store_size(&key, &value);
            if h.store_used - old + new > h.store_cap {
                return Ok(REFUSED);
            }
            h.store_used = h.store_used - old + new;
            h.store.insert(key, value);
            Ok(0)
        },
    ));
    ok(
        l.func_wrap(m, "store_remove", |mut c: Ctx<'_>, k: i32, klen: i32| {
            charge(&mut c)?;
            let key = read(&c, k, klen)?;
            let h = c.data_mut();
            match h.store.remove(&key) {
                Some(v) => {
                    h.store_used -= store_size(&key, &v);
                    Ok(1)
                }
                None => Ok(0),
            }
        }),
    );
    ok(l.func_wrap(m, "log", |mut c: Ctx<'_>, ptr: i32, len: i32| {
        charge(&mut c)?;
        let len = len.clamp(0, MAX_LOG_LINE as i32);
        let bytes = read(&c, ptr, len)?;
        let logs = &mut c.data_mut().effects.logs;
        if logs.len() < MAX_LOGS_PER_CALL {
            logs.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        Ok(())
    }));
    ok(l.func_wrap(m, "now_ms", |mut c: Ctx<'_>| {
        charge(&mut c)?;
        Ok((c.data().now.as_micros() / 1_000) as i64)
    }));
    ok(l.func_wrap(m, "random", |mut c: Ctx<'_>| {
        charge(&mut c)?;
        Ok(c.data_mut().rng.next_u64() as i64)
    }));
    ok(
        l.func_wrap(m, "set_timer", |mut c: Ctx<'_>, after_ms: i64| {
            charge(&mut c)?;
            let h = c.data_mut();
            let after = core::time::Duration::from_millis(after_ms.max(0) as u64);
            // Never sooner than a millisecond: a timer cannot spin the node.
            h.timer = Some(h.now + after.max(core::time::Duration::from_millis(1)));
            Ok(())
        }),
    );
    ok(l.func_wrap(m, "own_id", |mut c: Ctx<'_>, out: i32| {
        charge(&mut c)?;
        let own = c.data().view.own.to_bytes();
        write(&mut c, out, &own)
    }));
    ok(l.func_wrap(
        m,
        "replica_set",
        |mut c: Ctx<'_>, key: i32, r: i32, out: i32, cap: i32| {
            charge(&mut c)?;
            let key = read_id(&c, key)?;
            let v = &c.data().view;
            let mut ids: Vec<Id> = core::iter::once(v.own)
                .chain(v.neighbours.iter().copied())
                .collect();
            ids.sort_by(|&a, &b| key.cmp_closeness(a, b));
            ids.truncate(usize::try_from(r).unwrap_or(0));
            write_ids(&mut c, &ids, out, cap)
        },
    ));
    ok(l.func_wrap(
        m,
        "neighbor_set",
        |mut c: Ctx<'_>, n: i32, out: i32, cap: i32| {
            charge(&mut c)?;
            let mut ids = c.data().view.neighbours.clone();
            ids.truncate(usize::try_from(n).unwrap_or(0));
            write_ids(&mut c, &ids, out, cap)
        },
    ));
}
