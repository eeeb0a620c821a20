//! What a run measured: lookups judged against the global view, hop and
//! RDP distributions, control traffic.

use super::Sim;

/// The figures of a run (or of its measurement window).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Nodes created.
    pub nodes: usize,
    /// Lookups sent.
    pub lookups: usize,
    /// Lookups delivered at least once.
    pub delivered: usize,
    /// Lookups whose every delivery was by the true root at the time,
    /// a correct node (with faulty nodes about, a faulty root's delivery
    /// is the adversary's).
    pub correct: usize,
    /// Lookups delivered more than once.
    pub duplicated: usize,
    /// Lookups reported failed to their source.
    pub failed: usize,
    /// Lookups never delivered whose source crashed or left before its
    /// first receipt was due (`Config::receipt_timeout` after sending):
    /// nobody was left to send them again. Mostly a source gone within
    /// half a second of sending, its first hop a departed node.
    pub lost_source_gone: usize,
    /// Hops of each delivered lookup's first delivery: `hop_histogram[h]`.
    pub hop_histogram: Vec<usize>,
    /// Mean hops.
    pub mean_hops: f64,
    /// Median hops.
    pub p50_hops: u8,
    /// 99th percentile of hops.
    pub p99_hops: u8,
    /// Most hops.
    pub max_hops: u8,
    /// Mean relative delay penalty (deliveries away from the source).
    pub mean_rdp: f64,
    /// Median RDP.
    pub p50_rdp: f64,
    /// 99th percentile of RDP.
    pub p99_rdp: f64,
}

impl Report {
    /// Judges the lookups in `sim.lookup_order[from..]`.
    pub fn of<const POOL: usize, const S: usize, const HALF: usize>(
        sim: &Sim<POOL, S, HALF>,
        from: usize,
    ) -> Report {
        let ids = &sim.lookup_order[from..];
        let mut hops: Vec<u8> = Vec::new();
        let mut rdps: Vec<f64> = Vec::new();
        let (mut delivered, mut correct, mut duplicated, mut failed) = (0, 0, 0, 0);
        let mut lost_source_gone = 0;
        let grace = sim.config.node.receipt_timeout;
        for id in ids {
            let l = &sim.lookups[id];
            failed += usize::from(l.failed);
            let Some(first) = l.deliveries.first() else {
                let gone = sim.slots[l.source as usize].gone_at;
                lost_source_gone += usize::from(gone.is_some_and(|t| t <= l.sent_at + grace));
                continue;
            };
            delivered += 1;
            duplicated += usize::from(l.deliveries.len() > 1);
            correct += usize::from(
                l.deliveries
                    .iter()
                    .all(|d| d.1 && !sim.is_faulty(d.0 as usize)),
            );
            hops.push(first.2);
            if let Some(r) = first.3 {
                rdps.push(r);
            }
        }
        hops.sort_unstable();
        rdps.sort_by(f64::total_cmp);
        let max_hops = hops.last().copied().unwrap_or(0);
        let mut hop_histogram = vec![0; usize::from(max_hops) + 1];
        for h in &hops {
            hop_histogram[usize::from(*h)] += 1;
        }
        let mean = |v: &[f64]| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        };
        let hops_f: Vec<f64> = hops.iter().map(|h| f64::from(*h)).collect();
        Report {
            nodes: sim.len(),
            lookups: ids.len(),
            delivered,
            correct,
            duplicated,
            failed,
            lost_source_gone,
            hop_histogram,
            mean_hops: mean(&hops_f),
            p50_hops: percentile(&hops, 0.5).unwrap_or(0),
            p99_hops: percentile(&hops, 0.99).unwrap_or(0),
            max_hops,
            mean_rdp: mean(&rdps),
            p50_rdp: percentile(&rdps, 0.5).unwrap_or(0.0),
            p99_rdp: percentile(&rdps, 0.99).unwrap_or(0.0),
        }
    }
}

/// The `q` quantile of sorted values (nearest rank).
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        let v = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&v, 0.5), Some(5));
        assert_eq!(percentile(&v, 0.99), Some(10));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile::<u8>(&[], 0.5), None);
    }
}
