//! A provider's rate limit (token bucket of requests and tokens per minute) and the retries
//! with jittered exponential backoff it causes.

use std::collections::BinaryHeap;

use lcsim_core::reliability::RateLimit;
use rand::RngExt;

use crate::arrivals::Request;
use crate::random::SimRng;

/// A request turned away by a rate limit, waiting to be sent again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Retry {
    pub(crate) at_ms: f64,
    /// When the client first sent it.
    pub(crate) sent_ms: f64,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
    pub(crate) req: Request,
}

impl Eq for Retry {}

impl Ord for Retry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest first in a max-heap.
        other.at_ms.total_cmp(&self.at_ms).then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Retry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) limit: RateLimit,
    pub(crate) request_bucket: f64,
    pub(crate) token_bucket: f64,
    pub(crate) last_ms: f64,
    pub(crate) retries: BinaryHeap<Retry>,
    pub(crate) seq: u64,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Limiter {
            request_bucket: limit.requests.map_or(0.0, |r| r.1),
            token_bucket: limit.tokens.map_or(0.0, |t| t.1),
            limit,
            last_ms: 0.0,
            retries: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Refills both buckets to time `t` and takes what `req` needs, if they hold it.
    pub(crate) fn admit(&mut self, t: f64, req: &Request) -> bool {
        let dt = (t - self.last_ms).max(0.0);
        self.last_ms = self.last_ms.max(t);
        if let Some((rate, size)) = self.limit.requests {
            self.request_bucket = (self.request_bucket + rate * dt).min(size);
        }
        let tokens = f64::from(req.prompt_tokens) + f64::from(req.output_tokens);
        if let Some((rate, size)) = self.limit.tokens {
            self.token_bucket = (self.token_bucket + rate * dt).min(size);
        }
        let ok = self.limit.requests.is_none_or(|_| self.request_bucket >= 1.0)
            && self.limit.tokens.is_none_or(|_| self.token_bucket >= tokens);
        if ok {
            if self.limit.requests.is_some() {
                self.request_bucket -= 1.0;
            }
            if self.limit.tokens.is_some() {
                self.token_bucket -= tokens;
            }
        }
        ok
    }

    /// Backoff before retry `attempt` (1-based): full jitter.
    pub(crate) fn backoff(&self, attempt: u32, rng: &mut SimRng) -> f64 {
        let cap = (self.limit.backoff_base_ms * 2f64.powi(attempt as i32 - 1))
            .min(self.limit.backoff_max_ms);
        rng.random::<f64>() * cap
    }
}
