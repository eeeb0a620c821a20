//! The application's hooks into the core, as boxed values so that one
//! node type serves every application: the per-hop `forward` upcall and
//! the anycast predicate.

use pastry_core::Id;
use pastry_core::node::{ForwardHop, Forwarder, Verdict};
use pastry_core::scribe::Acceptor;

/// The application's per-hop upcall (KBR `forward`): called at every node
/// a per-hop application's message passes, after the DHT's and Scribe's.
/// None: every message continues unchanged.
#[derive(Default)]
pub struct Hop(pub(crate) Option<Box<dyn Forwarder + Send>>);

impl Forwarder for Hop {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        match self.0.as_mut() {
            Some(f) => f.forward(hop),
            None => Verdict::Continue,
        }
    }
}

impl std::fmt::Debug for Hop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Hop(user)"
        } else {
            "Hop(none)"
        })
    }
}

/// A predicate deciding whether this member takes an anycast.
pub type AcceptFn = Box<dyn FnMut(Id, &[u8]) -> bool + Send>;

/// The anycast predicate; none: every member accepts.
#[derive(Default)]
pub struct Accept(pub(crate) Option<AcceptFn>);

impl Acceptor for Accept {
    fn accept(&mut self, group: Id, data: &[u8]) -> bool {
        self.0.as_mut().is_none_or(|f| f(group, data))
    }
}

impl std::fmt::Debug for Accept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Accept(user)"
        } else {
            "Accept(all)"
        })
    }
}
