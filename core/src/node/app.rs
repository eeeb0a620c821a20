//! Applications on the overlay (PROST): each routed message names an
//! application; each node's policy allows or denies it and says whether it
//! is per-hop (every node on the path gets the `forward` upcall) or
//! end-node (only the root is involved).

use heapless::Vec;

use super::event::CommandError;
use super::pool::MAX_PAYLOAD;
use crate::id::Id;
use crate::peer::Peer;
use crate::routing::NextHop;
use crate::wire::AppId;

/// Applications a policy can name individually.
pub const MAX_POLICY_ENTRIES: usize = 16;

/// How a node treats one application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppPolicy {
    /// Whether this node serves the application (delivers it as root, or
    /// runs its per-hop upcall).
    pub allow: bool,
    /// Whether the application is per-hop.
    pub per_hop: bool,
    /// Whether this node's messages of an end-node application ask the
    /// node that delivers them for a receipt, and are sent again when
    /// none comes (`Config::max_resends`). Off for an application that
    /// acknowledges its own messages (the DHT's puts, Scribe), where a
    /// receipt would be one more datagram for nothing.
    pub receipts: bool,
}

/// Per-application policy with a default for the rest.
#[derive(Clone, Debug)]
pub struct Policy {
    default: AppPolicy,
    entries: Vec<(AppId, AppPolicy), MAX_POLICY_ENTRIES>,
}

impl Default for Policy {
    /// Every application allowed, end-node, with receipts.
    fn default() -> Policy {
        Policy {
            default: AppPolicy {
                allow: true,
                per_hop: false,
                receipts: true,
            },
            entries: Vec::new(),
        }
    }
}

impl Policy {
    /// The policy for `app`.
    pub fn get(&self, app: AppId) -> AppPolicy {
        self.entries
            .iter()
            .find(|(a, _)| *a == app)
            .map_or(self.default, |(_, p)| *p)
    }

    /// Sets the policy for `app`.
    pub fn set(&mut self, app: AppId, policy: AppPolicy) -> Result<(), CommandError> {
        if let Some(e) = self.entries.iter_mut().find(|(a, _)| *a == app) {
            e.1 = policy;
            return Ok(());
        }
        self.entries
            .push((app, policy))
            .map_err(|_| CommandError::PolicyFull)
    }

    /// Sets the policy for applications not named.
    pub fn set_default(&mut self, policy: AppPolicy) {
        self.default = policy;
    }
}

/// A per-hop message at one node, offered to the `forward` upcall.
#[derive(Debug)]
pub struct ForwardHop<'a> {
    /// The key.
    pub key: Id,
    /// The application.
    pub app: AppId,
    /// The node that sent it first.
    pub source: Peer,
    /// Hops taken so far.
    pub hops: u8,
    /// Where the overlay will send it: `Local` means this node is the root.
    pub next_hop: NextHop,
    /// With `next_hop` `Local`: a node closer to the key is suspected, so
    /// this node is the root only if that one has failed, and the overlay
    /// will hold the message until its probe resolves (MSPastry). An
    /// application may take the message now ([`Verdict::Deliver`]).
    pub closer_suspected: bool,
    /// The payload; the upcall may change it.
    pub payload: &'a mut Vec<u8, MAX_PAYLOAD>,
}

impl ForwardHop<'_> {
    /// The same hop, lent for a nested call (so one upcall can ask
    /// another and still use the hop after).
    pub fn reborrow(&mut self) -> ForwardHop<'_> {
        ForwardHop {
            payload: &mut *self.payload,
            ..*self
        }
    }
}

/// The upcall's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on as planned (with the payload as left).
    Continue,
    /// Drop the message here.
    Stop,
    /// Send it to this node instead.
    Redirect(Peer),
    /// Deliver it here, as if this node were the root: the application
    /// takes the message over (to answer it, or to send it on itself).
    /// A node that is not active yet routes it on instead.
    Deliver,
}

/// The KBR `forward` upcall for per-hop applications. The default leaves
/// every message unchanged.
pub trait Forwarder {
    /// Called at every node that routes a per-hop message its policy allows,
    /// before the message moves on (or, at the root, before delivery).
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        let _ = hop;
        Verdict::Continue
    }
}

/// The default forwarder: continue unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Passthrough;

impl Forwarder for Passthrough {}

/// Two forwarders on one node (say the DHT's and Scribe's): the first
/// decides unless it says [`Verdict::Continue`], then the second sees the
/// hop (with the payload as the first left it). Nest pairs for more.
impl<A: Forwarder, B: Forwarder> Forwarder for (A, B) {
    fn forward(&mut self, mut hop: ForwardHop<'_>) -> Verdict {
        match self.0.forward(hop.reborrow()) {
            Verdict::Continue => self.1.forward(hop),
            decided => decided,
        }
    }
}

/// A forwarder that may be absent (an application a node does not run):
/// absent, it continues.
impl<A: Forwarder> Forwarder for Option<A> {
    fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
        match self {
            Some(f) => f.forward(hop),
            None => Verdict::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::Peer;

    /// Appends its mark to the payload, then says `verdict`.
    struct Mark(u8, Verdict);

    impl Forwarder for Mark {
        fn forward(&mut self, hop: ForwardHop<'_>) -> Verdict {
            let _ = hop.payload.push(self.0);
            self.1
        }
    }

    fn hop(payload: &mut Vec<u8, MAX_PAYLOAD>) -> ForwardHop<'_> {
        ForwardHop {
            key: Id::ZERO,
            app: AppId(7),
            source: Peer {
                id: Id::MAX,
                addr: core::net::SocketAddr::from(([10, 0, 0, 1], 1)),
            },
            hops: 1,
            next_hop: NextHop::Local,
            closer_suspected: false,
            payload,
        }
    }

    #[test]
    fn a_pair_asks_the_second_only_when_the_first_continues() {
        let mut p = Vec::new();
        let mut both = (Mark(1, Verdict::Continue), Mark(2, Verdict::Deliver));
        assert_eq!(both.forward(hop(&mut p)), Verdict::Deliver);
        assert_eq!(p.as_slice(), [1, 2], "the second sees the first's payload");

        let mut p = Vec::new();
        let mut first_decides = (Mark(1, Verdict::Stop), Mark(2, Verdict::Deliver));
        assert_eq!(first_decides.forward(hop(&mut p)), Verdict::Stop);
        assert_eq!(p.as_slice(), [1]);

        let mut p = Vec::new();
        let mut nested = (
            (Mark(1, Verdict::Continue), Mark(2, Verdict::Continue)),
            Passthrough,
        );
        assert_eq!(nested.forward(hop(&mut p)), Verdict::Continue);
        assert_eq!(p.as_slice(), [1, 2]);
    }
}
