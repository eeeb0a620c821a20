//! Network models: where a node sits and how long a datagram takes between
//! two places. Two models: the Pastry paper's plane (§3: nodes uniform in a
//! square, delay proportional to distance) and a measured RTT matrix
//! (PlanetLab, 490 sites; one-way delay = RTT / 2).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use pastry_core::rng::SmallRng;

/// Side of the plane, in distance units.
pub const PLANE_SIDE: f64 = 1000.0;
/// One-way delay per unit of distance in the plane model: corner to corner
/// (1,414 units) is about 141 ms, like a long Internet path.
pub const PLANE_US_PER_UNIT: f64 = 100.0;
/// One-way delay between two nodes placed on the same matrix site.
pub const SAME_SITE_DELAY: Duration = Duration::from_micros(250);

/// Where a node sits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Place {
    /// A point in the plane.
    Point(f32, f32),
    /// A site (row) of the matrix.
    Site(u16),
}

/// A measured all-pairs RTT matrix, in microseconds.
#[derive(Clone, Debug)]
pub struct Matrix {
    n: usize,
    rtt_us: Vec<u32>,
}

/// Why a matrix file could not be used.
#[derive(Debug)]
pub enum MatrixError {
    /// The file could not be read.
    Io(String, std::io::Error),
    /// A line or value is not what the format says.
    Malformed(String),
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatrixError::Io(path, e) => write!(f, "cannot read latency matrix {path}: {e}"),
            MatrixError::Malformed(why) => write!(f, "malformed latency matrix: {why}"),
        }
    }
}

impl std::error::Error for MatrixError {}

impl Matrix {
    /// Loads a square matrix of RTTs in milliseconds: one row per line,
    /// tab-separated (the format of `shared/data/latency`).
    pub fn load(path: &Path) -> Result<Matrix, MatrixError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MatrixError::Io(path.display().to_string(), e))?;
        Matrix::parse(&text)
    }

    /// Parses the text of a matrix file.
    pub fn parse(text: &str) -> Result<Matrix, MatrixError> {
        let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let n = rows.len();
        if n < 2 {
            return Err(MatrixError::Malformed(format!("{n} rows; need at least 2")));
        }
        let mut rtt_us = Vec::with_capacity(n * n);
        for (i, line) in rows.iter().enumerate() {
            let before = rtt_us.len();
            for (j, field) in line.split('\t').enumerate() {
                let ms: f64 = field.trim().parse().map_err(|_| {
                    MatrixError::Malformed(format!(
                        "row {i}, column {j}: {field:?} is not a number"
                    ))
                })?;
                if !(0.0..=60_000.0).contains(&ms) {
                    return Err(MatrixError::Malformed(format!(
                        "row {i}, column {j}: {ms} ms is out of range"
                    )));
                }
                rtt_us.push((ms * 1000.0).round() as u32);
            }
            if rtt_us.len() - before != n {
                return Err(MatrixError::Malformed(format!(
                    "row {i} has {} values; the matrix has {n} rows",
                    rtt_us.len() - before
                )));
            }
        }
        Ok(Matrix { n, rtt_us })
    }

    /// Number of sites.
    pub fn sites(&self) -> usize {
        self.n
    }

    /// Round-trip time between two sites.
    pub fn rtt(&self, a: usize, b: usize) -> Duration {
        Duration::from_micros(u64::from(self.rtt_us[a * self.n + b]))
    }
}

/// How places are chosen and how far apart they are.
#[derive(Clone, Debug)]
pub enum Network {
    /// Uniform in a `PLANE_SIDE` square; delay proportional to distance.
    Plane,
    /// Node `i` sits at site `i mod sites`; beyond the matrix's size
    /// several nodes share a site, `SAME_SITE_DELAY` apart.
    Matrix(Matrix),
}

impl Network {
    /// The place of the `index`-th node created.
    pub fn place(&self, index: usize, rng: &mut SmallRng) -> Place {
        match self {
            Network::Plane => Place::Point(
                (rng.unit() * PLANE_SIDE) as f32,
                (rng.unit() * PLANE_SIDE) as f32,
            ),
            Network::Matrix(m) => Place::Site((index % m.sites()) as u16),
        }
    }

    /// One-way delay between two places, before jitter.
    pub fn one_way(&self, a: Place, b: Place) -> Duration {
        match (self, a, b) {
            (Network::Plane, Place::Point(x1, y1), Place::Point(x2, y2)) => {
                let d = f64::from(x1 - x2).hypot(f64::from(y1 - y2));
                // A floor of 0.1 ms: two nodes in one spot still take time.
                Duration::from_micros((d * PLANE_US_PER_UNIT) as u64 + 100)
            }
            (Network::Matrix(_), Place::Site(s), Place::Site(t)) if s == t => SAME_SITE_DELAY,
            (Network::Matrix(m), Place::Site(s), Place::Site(t)) => {
                m.rtt(usize::from(s), usize::from(t)) / 2
            }
            _ => panic!("place {a:?} or {b:?} does not belong to this network"),
        }
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Network::Plane => "plane",
            Network::Matrix(_) => "matrix",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_parses_and_bad_ones_say_why() {
        let m = Matrix::parse("0\t10.5\n10.5\t0\n").unwrap();
        assert_eq!(m.sites(), 2);
        assert_eq!(m.rtt(0, 1), Duration::from_micros(10_500));
        let net = Network::Matrix(m);
        assert_eq!(
            net.one_way(Place::Site(0), Place::Site(1)),
            Duration::from_micros(5_250)
        );
        assert_eq!(net.one_way(Place::Site(1), Place::Site(1)), SAME_SITE_DELAY);
        for (bad, why) in [
            ("", "rows"),
            ("0\t1\n1\n", "row 1 has 1 values"),
            ("0\tx\n1\t0\n", "not a number"),
            ("0\t-1\n1\t0\n", "out of range"),
        ] {
            let e = Matrix::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let missing = Matrix::load(Path::new("/nonexistent/rtt.tsv")).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/rtt.tsv"));
    }

    #[test]
    fn plane_delay_is_proportional_to_distance() {
        let net = Network::Plane;
        let d = net.one_way(Place::Point(0.0, 0.0), Place::Point(300.0, 400.0));
        assert_eq!(d, Duration::from_micros(50_000 + 100));
    }
}
