//! The servers of a FIFO or batching station: their free times, outages and training
//! slow-downs, and which one can start the next job first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::outages::{Intervals, contains, next_up};

/// Free times of `c` servers; the earliest is found by a scan for small `c`, a heap otherwise.
/// Servers with failures keep their down intervals and are scanned.
#[derive(Debug)]
pub(crate) enum ServerPool {
    Few(Vec<f64>),
    /// Free times as bit patterns: for non-negative floats these order like the floats.
    Many(BinaryHeap<Reverse<u64>>),
    Failing {
        free: Vec<f64>,
        down: Vec<Intervals>,
        /// Intervals in which a device serves at `speed` of its normal rate (training).
        slow: Vec<Intervals>,
        speed: f64,
    },
}

impl ServerPool {
    pub(crate) fn new(
        servers: u32,
        outages: Option<(Vec<Intervals>, Vec<Intervals>, f64)>,
    ) -> Self {
        match outages {
            Some((mut down, mut slow, speed))
                if down.iter().chain(&slow).any(|d| !d.is_empty()) =>
            {
                down.resize(servers as usize, Vec::new());
                slow.resize(servers as usize, Vec::new());
                ServerPool::Failing { free: vec![0.0; servers as usize], down, slow, speed }
            }
            _ if servers <= 16 => ServerPool::Few(vec![0.0; servers as usize]),
            _ => ServerPool::Many((0..servers).map(|_| Reverse(0f64.to_bits())).collect()),
        }
    }

    /// The server that can start a job arriving at `t` first, and when.
    #[inline(always)]
    pub(crate) fn next_start(&self, t: f64) -> (usize, f64) {
        match self {
            ServerPool::Few(free) => {
                let best = earliest(free);
                (best, free[best].max(t))
            }
            ServerPool::Many(heap) => {
                (0, heap.peek().map_or(f64::INFINITY, |r| f64::from_bits(r.0)).max(t))
            }
            ServerPool::Failing { free, down, .. } => Self::next_start_failing(free, down, t),
        }
    }

    /// How much longer a job takes on server `i` starting at `start` (1 unless it is
    /// training at reduced speed).
    #[inline(always)]
    pub(crate) fn slowdown(&self, i: usize, start: f64) -> f64 {
        match self {
            ServerPool::Failing { slow, speed, .. } if contains(&slow[i], start) => 1.0 / speed,
            _ => 1.0,
        }
    }

    #[inline(never)]
    pub(crate) fn next_start_failing(free: &[f64], down: &[Intervals], t: f64) -> (usize, f64) {
        let mut best = (0, f64::INFINITY);
        for (i, (f, d)) in free.iter().zip(down).enumerate() {
            let s = next_up(d, f.max(t));
            if s < best.1 {
                best = (i, s);
            }
        }
        best
    }

    /// Marks server `i` (from the last [`ServerPool::next_start`]) busy until `until`.
    #[inline]
    pub(crate) fn occupy(&mut self, i: usize, until: f64) {
        match self {
            ServerPool::Few(free) | ServerPool::Failing { free, .. } => free[i] = until,
            ServerPool::Many(heap) => {
                *heap.peek_mut().expect("at least one server") = Reverse(until.to_bits());
            }
        }
    }
}

/// The server that is free first: the first of equal free times (`free` is not empty).
///
/// Selects without branching on the comparison, so the compiler can use conditional moves:
/// which server frees up first is as random as the service times, and a branch on it is
/// mispredicted about as often as not.
#[inline(always)]
pub(crate) fn earliest(free: &[f64]) -> usize {
    let (mut best, mut best_t) = (0, free[0]);
    for (i, &f) in free.iter().enumerate().skip(1) {
        let sooner = f < best_t;
        best = if sooner { i } else { best };
        best_t = if sooner { f } else { best_t };
    }
    best
}

#[cfg(test)]
mod tests {
    use super::earliest;

    /// The branch-free scan against a plain one: the first of the smallest free times, ties
    /// included (servers that have never worked are all free at 0).
    #[test]
    fn earliest_is_the_first_smallest() {
        let plain = |free: &[f64]| {
            let min = free.iter().copied().fold(f64::INFINITY, f64::min);
            free.iter().position(|&f| f == min).expect("not empty")
        };
        let cases: [&[f64]; 7] = [
            &[0.0],
            &[0.0, 0.0, 0.0],
            &[3.0, 1.0, 2.0, 1.0],
            &[5.0, 4.0, 3.0, 2.0, 1.0],
            &[1.0, 2.0, 3.0],
            &[2.0, 2.0, 1.0, 1.0, 0.5, 0.5],
            &[7.0, 7.0, 7.0, 6.0, 7.0, 6.0, 6.0, 9.0],
        ];
        for free in cases {
            assert_eq!(earliest(free), plain(free), "{free:?}");
        }
    }
}
