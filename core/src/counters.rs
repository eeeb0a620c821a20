//! Every counter of a node, one at a time, so an exporter (Prometheus, a
//! status page, a log line) lists them without naming each: the DHT's,
//! Scribe's, the sessions' and the overlay's. Each list destructures its
//! struct whole, so a counter added to a struct and not here does not
//! compile.

use crate::dht::DhtStats;
use crate::node::{Drops, SecureStats, Stats};
use crate::scribe::ScribeStats;
use crate::session::SessionStats;
use crate::wire::Kind;

/// One counter's value. Names are snake case and unique across the
/// node's counters; those that count per message kind share a name and
/// differ by `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// What it counts, as `"dht_stored"`.
    pub name: &'static str,
    /// The message kind, for the per-kind counters.
    pub kind: Option<&'static str>,
    /// Its value; counters only grow.
    pub value: u64,
}

/// Something that holds counters.
pub trait Counters {
    /// Calls `f` with each counter, in a fixed order.
    fn each_counter(&self, f: &mut dyn FnMut(Counter));
}

/// Implements [`Counters`] for a struct of plain `u64` counters, each
/// named `prefix` + its field's name.
macro_rules! plain {
    ($ty:ident, $prefix:literal, [$($field:ident),* $(,)?] $(, skip [$($skip:ident),*])?) => {
        impl $crate::counters::Counters for $ty {
            fn each_counter(&self, f: &mut dyn FnMut($crate::counters::Counter)) {
                let $ty { $($field,)* $($($skip: _,)*)? } = self;
                $(f($crate::counters::Counter {
                    name: concat!($prefix, stringify!($field)),
                    kind: None,
                    value: *$field,
                });)*
            }
        }
    };
}
#[cfg(feature = "std")]
pub(crate) use plain;

plain!(
    Drops,
    "node_dropped_",
    [
        malformed,
        unsupported_version,
        oversized,
        not_active,
        queue_full,
        duplicate,
        unsolicited,
        unauthenticated,
    ]
);

plain!(
    SecureStats,
    "node_secure_",
    [
        lookups,
        completed,
        test_fired,
        single_timeouts,
        redundant,
        queries_sent,
        queries_relayed,
        answered,
        answers_rationed,
        unsolicited_answers,
        unconstrained_hops,
        fills,
        routes_refused,
    ]
);

plain!(
    SessionStats,
    "session_",
    [
        established,
        timed_out,
        evicted,
        refused,
        no_session,
        wrong_address,
        bad_tag,
        replayed,
        bad_cookie,
        unsolicited,
        stale_sent,
        stale_heard,
        rationed,
    ],
    skip[last_refusal]
);

plain!(
    DhtStats,
    "dht_",
    [
        stored,
        stale_refused,
        full_refused,
        forged,
        protected_refused,
        quota_refused,
        unauthorized,
        not_cached,
        malformed,
        gets_served,
        gets_served_from_cache,
        gets_on_the_way,
        gets_answered_on_the_way,
        handed_off,
        diverted,
        spares_evicted,
        sent,
        sent_bytes,
        deferred,
        dropped,
        sync_rounds,
        answers_not_counted,
        disputed,
        secure_retries,
        deleted,
        expired,
    ]
);

plain!(
    ScribeStats,
    "scribe_",
    [
        subscribes_sent,
        pushed_down,
        secure_subscribes,
        beats_sent,
        data_sent,
        delivered,
        duplicates,
        leaves_sent,
        anycasts_sent,
        anycasts_accepted,
        parent_losses,
        beats_asked,
        loops_broken,
        stale_paths,
        refused,
        without_tree,
        dropped,
        malformed,
        replayed,
        sent,
        sent_bytes,
    ]
);

impl Counters for Stats {
    fn each_counter(&self, f: &mut dyn FnMut(Counter)) {
        for kind in Kind::ALL {
            let kind_name = Some(kind.name());
            f(Counter {
                name: "node_sent",
                kind: kind_name,
                value: self.sent(kind),
            });
            f(Counter {
                name: "node_received",
                kind: kind_name,
                value: self.received(kind),
            });
        }
        let Stats {
            sent: _,
            received: _,
            drops,
            reroutes,
            suspicions,
            failures,
            delivered,
            forwarded,
            route_failures,
            resent,
            unconfirmed,
            handed_over,
            events_dropped,
            transmits_dropped,
            secure,
        } = self;
        drops.each_counter(f);
        for (name, value) in [
            ("node_reroutes", reroutes),
            ("node_suspicions", suspicions),
            ("node_failures", failures),
            ("node_delivered", delivered),
            ("node_forwarded", forwarded),
            ("node_route_failures", route_failures),
            ("node_resent", resent),
            ("node_unconfirmed", unconfirmed),
            ("node_handed_over", handed_over),
            ("node_events_dropped", events_dropped),
            ("node_transmits_dropped", transmits_dropped),
        ] {
            f(Counter {
                name,
                kind: None,
                value: *value,
            });
        }
        secure.each_counter(f);
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;

    fn names(c: &impl Counters) -> alloc::vec::Vec<(&'static str, Option<&'static str>)> {
        let mut out = alloc::vec::Vec::new();
        c.each_counter(&mut |c| out.push((c.name, c.kind)));
        out
    }

    #[test]
    fn every_counter_has_a_name_of_its_own_and_reports_its_value() {
        let mut all = names(&Stats::default());
        all.extend(names(&SessionStats::default()));
        all.extend(names(&DhtStats::default()));
        all.extend(names(&ScribeStats::default()));
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a name used twice");
        assert_eq!(
            all.iter().filter(|(n, _)| *n == "node_sent").count(),
            Kind::ALL.len()
        );
        let dht = DhtStats {
            disputed: 7,
            ..DhtStats::default()
        };
        let mut seen = None;
        dht.each_counter(&mut |c| {
            if c.name == "dht_disputed" {
                seen = Some(c.value);
            }
        });
        assert_eq!(seen, Some(7));
    }
}
