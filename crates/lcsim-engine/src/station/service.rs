//! Service times: sampled per request (a distribution or a streaming provider's TTFT plus
//! tokens) or per batch (a distribution or the token latency model).

use lcsim_core::scenario::{Provider, TokenLatency};

use crate::arrivals::Request;
use crate::random::{Sampler, SimRng};
use crate::recorder::Timing;

#[derive(Debug)]
pub(crate) enum RequestService {
    Dist(Sampler),
    Streaming { ttft: Sampler, ms_per_output_token: f64 },
}

/// A provider's service of one request: until its first token, and in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    pub(crate) first_ms: f64,
    pub(crate) total_ms: f64,
    pub(crate) tpot_ms: Option<f64>,
}

impl Service {
    /// A service that is not streamed: its first token is its whole answer.
    #[inline(always)]
    pub(crate) fn whole(total_ms: f64) -> Self {
        Service { first_ms: total_ms, total_ms, tpot_ms: None }
    }

    /// Slowed down by `factor` (a device training at reduced speed).
    pub(crate) fn scaled(self, factor: f64) -> Self {
        Service {
            first_ms: self.first_ms * factor,
            total_ms: self.total_ms * factor,
            tpot_ms: self.tpot_ms.map(|t| t * factor),
        }
    }

    /// The client's view: sent at `sent`, taken by a server after `wait`, network round trip
    /// `rtt` on top.
    pub(crate) fn timing(self, wait_ms: f64, rtt_ms: f64) -> Timing {
        Timing {
            wait_ms,
            latency_ms: rtt_ms + wait_ms + self.total_ms,
            ttft_ms: rtt_ms + wait_ms + self.first_ms,
            tpot_ms: self.tpot_ms,
        }
    }
}

impl RequestService {
    #[inline(always)]
    pub(crate) fn sample(&self, rng: &mut SimRng, req: &Request) -> Service {
        match self {
            RequestService::Dist(s) => Service::whole(s.sample(rng)),
            RequestService::Streaming { ttft, ms_per_output_token } => {
                let first_ms = ttft.sample(rng);
                Service {
                    first_ms,
                    total_ms: first_ms + ms_per_output_token * f64::from(req.output_tokens),
                    tpot_ms: (req.output_tokens >= 2).then_some(*ms_per_output_token),
                }
            }
        }
    }
}

#[derive(Debug)]
pub(crate) enum BatchService {
    Dist(Sampler),
    Tokens(TokenLatency),
}

pub(crate) fn request_service(provider: &Provider) -> RequestService {
    match provider {
        Provider::Dist(d) => RequestService::Dist(Sampler::new(d)),
        Provider::Streaming { ttft_ms, output_tokens_per_s } => RequestService::Streaming {
            ttft: Sampler::new(ttft_ms),
            ms_per_output_token: 1000.0 / output_tokens_per_s,
        },
    }
}
