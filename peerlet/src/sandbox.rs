//! One peerlet's module, instantiated in a wasmi store of its own and run
//! under its [`Budget`]: fuel per call, a memory limit, a recursion limit,
//! a bounded private store, and a send allowance. Whatever the module
//! does, a call ends (fuel), the node's memory is safe (limits), and a
//! fault is reported as a [`Fault`], never a panic.

use std::collections::BTreeMap;

use pastry_core::rng::SmallRng;
use pastry_core::{Id, Instant};
use wasmi::{
    Config, EnforcedLimits, Engine, Instance, Linker, Memory, Module, Store, StoreLimitsBuilder,
    TrapCode, TypedFunc,
};

use crate::abi::{self, BUFFER_LEN, FORWARD_CONTINUE, FORWARD_STOP};
use crate::budget::{Budget, MAX_MODULE_BYTES, MAX_RECURSION};
use crate::imports::{Host, link};

/// Messages one call may send.
pub const MAX_SENDS_PER_CALL: usize = 8;
/// Log lines one call may write, and the bytes of each.
pub const MAX_LOGS_PER_CALL: usize = 4;
/// Longest log line kept.
pub const MAX_LOG_LINE: usize = 200;
/// Longest key in a peerlet's store.
pub const MAX_STORE_KEY: usize = 64;

/// Why a module was not installed, or a call did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The module is larger than a node compiles ([`MAX_MODULE_BYTES`]).
    TooLarge,
    /// Not a valid module, or one past the compiler's limits.
    Malformed,
    /// It lacks an export the ABI needs, or has one of the wrong type.
    Missing(&'static str),
    /// Its imports are not the host's, or instantiation failed.
    Unlinkable,
    /// It used up its fuel for the call.
    OutOfFuel,
    /// It recursed deeper than [`MAX_RECURSION`] or its stack overflowed.
    StackOverflow,
    /// It asked for more memory than its budget (at instantiation), or
    /// its buffer lies outside its memory.
    Memory,
    /// It trapped: an unreachable, a bad access, a host call with a
    /// pointer outside its memory.
    Trap,
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Fault::TooLarge => write!(f, "module over {MAX_MODULE_BYTES} bytes"),
            Fault::Malformed => f.write_str("not a valid WebAssembly module"),
            Fault::Missing(e) => write!(f, "missing or mistyped export {e}"),
            Fault::Unlinkable => f.write_str("imports not provided by the host"),
            Fault::OutOfFuel => f.write_str("out of fuel"),
            Fault::StackOverflow => f.write_str("stack overflow"),
            Fault::Memory => f.write_str("over its memory budget"),
            Fault::Trap => f.write_str("trapped"),
        }
    }
}

impl std::error::Error for Fault {}

fn fault_of(e: &wasmi::Error) -> Fault {
    match e.as_trap_code() {
        Some(TrapCode::OutOfFuel) => Fault::OutOfFuel,
        Some(TrapCode::StackOverflow) => Fault::StackOverflow,
        Some(TrapCode::GrowthOperationLimited | TrapCode::OutOfSystemMemory) => Fault::Memory,
        _ => Fault::Trap,
    }
}

/// Something a call asked the node to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Send {
    /// Route to a key's root, as this peerlet.
    Route {
        /// The key.
        key: Id,
        /// The bytes.
        payload: Vec<u8>,
    },
    /// Send to the source of the message being handled.
    Reply {
        /// The bytes.
        payload: Vec<u8>,
    },
}

/// What a call left behind for the node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Messages to send, in order.
    pub sends: Vec<Send>,
    /// Log lines.
    pub logs: Vec<String>,
    /// Fuel the call used.
    pub fuel: u64,
    /// Sends refused: over the allowance of the call or the budget.
    pub refused: u32,
}

/// What `pastry_forward` decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forward {
    /// Go on unchanged.
    Continue,
    /// Go on with this payload.
    Replace(Vec<u8>),
    /// Drop the message here.
    Stop,
}

/// What the node tells a peerlet about itself before a call.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// This node's id.
    pub own: Id,
    /// Its neighbours (the leaf set), any order.
    pub neighbours: Vec<Id>,
}

/// The compiler and the host functions, shared by every peerlet of a node.
#[derive(Debug)]
pub struct Runtime {
    engine: Engine,
    linker: Linker<Host>,
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime::new()
    }
}

impl Runtime {
    /// An engine that meters fuel, limits recursion and refuses modules
    /// built to attack the compiler (wasmi's strict limits).
    pub fn new() -> Runtime {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .set_max_recursion_depth(MAX_RECURSION)
            .enforced_limits(EnforcedLimits::strict());
        let engine = Engine::new(&config);
        let mut linker = Linker::new(&engine);
        link(&mut linker);
        Runtime { engine, linker }
    }

    /// Compiles `code` and instantiates it under `budget`, running its
    /// start function (if any) on the fuel of one call. `seed` seeds its
    /// random numbers.
    pub fn instantiate(&self, code: &[u8], budget: Budget, seed: u64) -> Result<Sandbox, Fault> {
        if code.len() > MAX_MODULE_BYTES {
            return Err(Fault::TooLarge);
        }
        if !sections_sound(code) {
            return Err(Fault::Malformed);
        }
        let module = Module::new(&self.engine, code).map_err(|_| Fault::Malformed)?;
        let limits = StoreLimitsBuilder::new()
            .memory_size(budget.memory_bytes as usize)
            .memories(1)
            .tables(1)
            .table_elements(10_000)
            .instances(1)
            .build();
        let host = Host {
            limits,
            store: BTreeMap::new(),
            store_used: 0,
            store_cap: budget.store_bytes as usize,
            now: Instant::ZERO,
            rng: SmallRng::new(seed),
            timer: None,
            view: View::default(),
            source: None,
            effects: Effects::default(),
            tokens: budget.send_burst,
            refill_at: Instant::ZERO,
            budget,
        };
        let mut store = Store::new(&self.engine, host);
        store.limiter(|h| &mut h.limits);
        store
            .set_fuel(budget.fuel_per_call)
            .map_err(|_| Fault::Unlinkable)?;
        let instance = self
            .linker
            .instantiate_and_start(&mut store, &module)
            .map_err(|e| match e.as_trap_code() {
                Some(_) => fault_of(&e),
                // A memory whose minimum is over the limit fails here too.
                None if e.to_string().contains("memory") => Fault::Memory,
                None => Fault::Unlinkable,
            })?;
        Sandbox::new(store, instance)
    }
}

/// A check of the module's outline before wasmi reads it: the sections
/// are where their sizes say, and a code section that declares no
/// function holds nothing. wasmi 2.0.0 divides by that count when its
/// strict limits are on and the section is 1,000 bytes or more, so such a
/// module would panic the node (found by the `peerlet_inputs` fuzz
/// target); anything else is left to wasmi's validation.
fn sections_sound(code: &[u8]) -> bool {
    let Some(mut rest) = code.strip_prefix(b"\0asm\x01\0\0\0") else {
        return false;
    };
    while let Some((&id, after)) = rest.split_first() {
        let Some((size, after)) = leb_u32(after) else {
            return false;
        };
        let Some((body, next)) = after.split_at_checked(size as usize) else {
            return false;
        };
        if id == 10 {
            match leb_u32(body) {
                Some((0, tail)) if !tail.is_empty() => return false,
                None => return false,
                _ => {}
            }
        }
        rest = next;
    }
    true
}

/// An unsigned LEB128 number of at most 32 bits, and the bytes after it.
fn leb_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let mut v: u32 = 0;
    for (i, &byte) in b.iter().enumerate().take(5) {
        v |= u32::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// One instantiated peerlet.
#[derive(Debug)]
pub struct Sandbox {
    store: Store<Host>,
    memory: Memory,
    buffer: usize,
    deliver: Option<TypedFunc<i32, ()>>,
    forward: Option<TypedFunc<i32, i32>>,
    timer: Option<TypedFunc<(), ()>>,
}

impl Sandbox {
    fn new(mut store: Store<Host>, instance: Instance) -> Result<Sandbox, Fault> {
        let memory = instance
            .get_memory(&store, abi::MEMORY)
            .ok_or(Fault::Missing(abi::MEMORY))?;
        let buffer_fn = instance
            .get_typed_func::<(), i32>(&store, abi::BUFFER)
            .map_err(|_| Fault::Missing(abi::BUFFER))?;
        let buffer = buffer_fn.call(&mut store, ()).map_err(|e| fault_of(&e))?;
        let buffer = usize::try_from(buffer).map_err(|_| Fault::Memory)?;
        if buffer + BUFFER_LEN > memory.data(&store).len() {
            return Err(Fault::Memory);
        }
        let deliver = instance
            .get_typed_func::<i32, ()>(&store, abi::DELIVER)
            .ok();
        let forward = instance
            .get_typed_func::<i32, i32>(&store, abi::FORWARD)
            .ok();
        if deliver.is_none() && forward.is_none() {
            return Err(Fault::Missing(abi::DELIVER));
        }
        let timer = instance.get_typed_func::<(), ()>(&store, abi::TIMER).ok();
        Ok(Sandbox {
            store,
            memory,
            buffer,
            deliver,
            forward,
            timer,
        })
    }

    /// Whether it handles messages at their root (`pastry_deliver`).
    pub fn is_end_node(&self) -> bool {
        self.deliver.is_some()
    }

    /// Whether it handles messages on their way (`pastry_forward`).
    pub fn is_per_hop(&self) -> bool {
        self.forward.is_some()
    }

    /// When its timer is due.
    pub fn timer(&self) -> Option<Instant> {
        self.store.data().timer
    }

    /// Bytes of linear memory it holds.
    pub fn memory_bytes(&self) -> usize {
        self.memory.data(&self.store).len()
    }

    /// Bytes of its private store in use.
    pub fn store_bytes(&self) -> usize {
        self.store.data().store_used
    }

    /// Its store's value under `key` (for operators and tests).
    pub fn stored(&self, key: &[u8]) -> Option<&[u8]> {
        self.store.data().store.get(key).map(Vec::as_slice)
    }

    /// Runs `pastry_deliver` for a message that reached its root.
    pub fn deliver(
        &mut self,
        (now, view): (Instant, &View),
        key: Id,
        source: Id,
        payload: &[u8],
    ) -> Result<Effects, Fault> {
        let f = self.deliver.ok_or(Fault::Missing(abi::DELIVER))?;
        let len = self.prepare((now, view), Some(source), &[key, source], payload)?;
        let r = f.call(&mut self.store, len);
        self.finish(r).map(|(e, ())| e)
    }

    /// Runs `pastry_forward` for a message on its way to `key` (`next`:
    /// the next hop; `None` at the root).
    pub fn forward(
        &mut self,
        (now, view): (Instant, &View),
        (key, source, next): (Id, Id, Option<Id>),
        payload: &[u8],
    ) -> Result<(Effects, Forward), Fault> {
        let f = self.forward.ok_or(Fault::Missing(abi::FORWARD))?;
        let next = next.unwrap_or(Id::ZERO);
        let len = self.prepare((now, view), Some(source), &[key, source, next], payload)?;
        let r = f.call(&mut self.store, len);
        let (effects, verdict) = self.finish(r)?;
        let verdict = match verdict {
            FORWARD_STOP => Forward::Stop,
            FORWARD_CONTINUE => Forward::Continue,
            n => {
                let n = usize::try_from(n).map_err(|_| Fault::Trap)?;
                if n > pastry_core::node::MAX_PAYLOAD {
                    return Err(Fault::Trap);
                }
                let at = self.buffer;
                Forward::Replace(self.memory.data(&self.store)[at..at + n].to_vec())
            }
        };
        Ok((effects, verdict))
    }

    /// Runs `pastry_timer` if it is due at `now`.
    pub fn on_timer(&mut self, now: Instant, view: &View) -> Result<Option<Effects>, Fault> {
        match (self.timer, self.store.data().timer) {
            (Some(f), Some(t)) if t <= now => {
                self.store.data_mut().timer = None;
                self.prepare((now, view), None, &[], &[])?;
                let r = f.call(&mut self.store, ());
                self.finish(r).map(|(e, ())| Some(e))
            }
            _ => Ok(None),
        }
    }

    /// Writes the input into the guest's buffer and arms the call.
    fn prepare(
        &mut self,
        (now, view): (Instant, &View),
        source: Option<Id>,
        ids: &[Id],
        payload: &[u8],
    ) -> Result<i32, Fault> {
        let len = ids.len() * 20 + payload.len();
        if len > BUFFER_LEN {
            return Err(Fault::Memory);
        }
        let at = self.buffer;
        let mem = self.memory.data_mut(&mut self.store);
        let buf = mem.get_mut(at..at + len).ok_or(Fault::Memory)?;
        for (i, id) in ids.iter().enumerate() {
            buf[i * 20..(i + 1) * 20].copy_from_slice(&id.to_bytes());
        }
        buf[ids.len() * 20..].copy_from_slice(payload);
        let h = self.store.data_mut();
        h.now = now;
        h.view.own = view.own;
        h.view.neighbours.clone_from(&view.neighbours);
        h.source = source;
        h.effects = Effects::default();
        let fuel = h.budget.fuel_per_call;
        self.store.set_fuel(fuel).map_err(|_| Fault::Trap)?;
        Ok(len as i32)
    }

    /// The call's effects, or its fault (whose effects are dropped: a
    /// call that failed sends nothing).
    fn finish<T>(&mut self, r: Result<T, wasmi::Error>) -> Result<(Effects, T), Fault> {
        let left = self.store.get_fuel().unwrap_or(0);
        let h = self.store.data_mut();
        let mut effects = core::mem::take(&mut h.effects);
        effects.fuel = h.budget.fuel_per_call.saturating_sub(left);
        match r {
            Ok(v) => Ok((effects, v)),
            Err(e) => Err(fault_of(&e)),
        }
    }
}
