//! Replaying recorded requests through continuous batching: the simulated side of
//! `lcsim validate`. The requests are the ones a real server was sent, at their send times
//! and with the token counts the server reported; nothing is drawn at random.

use lcsim_core::scenario::Continuous;

use crate::arrivals::Request;
use crate::continuous::{Completed, ContinuousServers, Event};

/// One recorded request: when it reached the server and its token counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recorded {
    pub arrival_ms: f64,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
}

/// Simulates `requests` on one server with `cfg`; the result is in the order of `requests`.
/// A request that can never fit the KV cache has no completion (`None`).
pub fn replay(cfg: Continuous, requests: &[Recorded]) -> Vec<Option<Completed>> {
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| requests[a].arrival_ms.total_cmp(&requests[b].arrival_ms));
    let mut servers = ContinuousServers::new(cfg, 1, Vec::new());
    let mut done: Vec<Option<Completed>> = vec![None; requests.len()];
    let mut emit = |e: Event| {
        if let Event::Done(c) = e {
            done[c.req.tag as usize] = Some(c);
        }
    };
    for i in order {
        let r = requests[i];
        let req = Request {
            t_ms: r.arrival_ms,
            prompt_tokens: r.prompt_tokens,
            output_tokens: r.output_tokens,
            tag: i as u32,
        };
        servers.advance(req.t_ms, &mut emit);
        if servers.fits(&req) {
            servers.enqueue(req, req.t_ms);
        }
    }
    servers.advance(f64::INFINITY, &mut emit);
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use lcsim_core::scenario::{DecodeTable, Linear};

    #[test]
    fn two_overlapping_requests_share_iterations() {
        // 10 ms per iteration whatever the batch: the first request is prefilled at 0..10 and
        // decodes 2 more tokens; the second arrives at 5, joins at 10, prefills in 10..20.
        let cfg = Continuous {
            max_num_seqs: 2,
            kv_cache_tokens: 1000,
            max_batched_tokens: None,
            prefill_ms_per_token: 0.0,
            decode_ms: Linear { base: 0.0, per_batch: 0.0 },
            decode_ms_by_batch: DecodeTable::NONE,
            attention_ms_per_context_token: 0.0,
            prefill_attention_ms_per_context_token: 0.0,
            prefill_overhead_ms: 0.0,
            overhead_ms: 10.0,
        };
        let reqs = [
            Recorded { arrival_ms: 0.0, prompt_tokens: 10, output_tokens: 3 },
            Recorded { arrival_ms: 5.0, prompt_tokens: 10, output_tokens: 2 },
        ];
        let done = replay(cfg, &reqs);
        let (a, b) = (done[0].unwrap(), done[1].unwrap());
        assert_eq!((a.first_token_ms, a.end_ms), (10.0, 30.0));
        assert_eq!((b.first_token_ms, b.end_ms), (20.0, 30.0));
    }
}
