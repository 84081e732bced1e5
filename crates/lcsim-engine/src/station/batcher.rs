//! The dynamic batcher of Triton / TF Serving (static batching): batches close when full or
//! when their oldest request has waited `batch_timeout_ms`.

use std::collections::VecDeque;

use crate::arrivals::Request;
use crate::random::SimRng;
use crate::recorder::Recorder;
use crate::recorder::Timing;
use crate::station::pool::ServerPool;
use crate::station::service::BatchService;

#[derive(Debug)]
pub(crate) struct Batcher {
    pub(crate) pool: ServerPool,
    pub(crate) capacity: Option<usize>,
    pub(crate) max_batch: usize,
    pub(crate) timeout_ms: f64,
    pub(crate) queue: VecDeque<Request>,
    pub(crate) service: BatchService,
}

impl Batcher {
    /// Dispatches every batch whose start is decided by time `now` (the next arrival).
    pub(crate) fn dispatch_ready(&mut self, now: f64, rng: &mut SimRng, rec: &mut Recorder) {
        while let Some(first) = self.queue.front() {
            let full = self.queue.len() >= self.max_batch;
            let close = if full {
                self.queue[self.max_batch - 1].t_ms
            } else {
                first.t_ms + self.timeout_ms
            };
            let (server, start) = self.pool.next_start(close);
            // Until it starts, a batch that is not full can still grow, and its requests
            // still take up waiting room.
            if start >= now {
                return;
            }
            let size = self.queue.len().min(self.max_batch);
            let slowdown = self.pool.slowdown(server, start);
            // (time to the batch's first token, its whole time, its tokens)
            let (first, service, steps) = match &self.service {
                BatchService::Dist(s) => {
                    let total = s.sample(rng) * slowdown;
                    (total, total, 1)
                }
                BatchService::Tokens(tl) => {
                    let batch = self.queue.range(..size);
                    let (prompt_sum, max_output) = batch.fold((0u64, 0u32), |(p, o), r| {
                        (p + u64::from(r.prompt_tokens), o.max(r.output_tokens))
                    });
                    let total = tl.batch_ms(size as u32, prompt_sum, max_output) * slowdown;
                    let prefill = tl.batch_ms(size as u32, prompt_sum, 0) * slowdown;
                    // Decode steps are taken as equal: the first token comes one mean step
                    // after the prefill.
                    let steps = max_output.max(1);
                    (prefill + (total - prefill) / f64::from(steps), total, steps)
                }
            };
            self.pool.occupy(server, start + service);
            rec.busy(start, service, size);
            if rec.is_counted(start) {
                rec.batches += 1;
            }
            let mask = rec.mask;
            let streamed = matches!(self.service, BatchService::Tokens(_)) && steps >= 2;
            let tpot = (service - first) / f64::from(steps.max(2) - 1);
            for req in self.queue.drain(..size) {
                let wait = start - req.t_ms;
                let timing = Timing {
                    wait_ms: wait,
                    latency_ms: wait + service,
                    ttft_ms: wait + first,
                    tpot_ms: (streamed && req.output_tokens >= 2).then_some(tpot),
                };
                rec.done(&req, req.t_ms, timing, mask);
            }
        }
    }
}
