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
                let mut best = 0;
                for i in 1..free.len() {
                    if free[i] < free[best] {
                        best = i;
                    }
                }
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
