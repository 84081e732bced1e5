//! First-come-first-served servers: the Kiefer–Wolfowitz recursion, one request at a time.

use std::collections::VecDeque;

use crate::arrivals::Request;
use crate::random::{Sampler, SimRng};
use crate::recorder::ErrorKind;
use crate::recorder::Recorder;
use crate::station::pool::ServerPool;
use crate::station::service::RequestService;

#[derive(Debug)]
pub(crate) struct Fifo {
    pub(crate) pool: ServerPool,
    pub(crate) capacity: Option<usize>,
    /// Start times of requests still waiting (kept with a waiting room or inside a hybrid).
    pub(crate) waiting_starts: VecDeque<f64>,
    pub(crate) track_waiting: bool,
    pub(crate) service: RequestService,
}

impl Fifo {
    /// One request arriving at `req.t_ms`, sent at `sent_ms` (the deployment is up).
    #[inline(always)]
    pub(crate) fn serve(
        &mut self,
        req: Request,
        sent_ms: f64,
        rng: &mut SimRng,
        rec: &mut Recorder,
        network_rtt: Option<&Sampler>,
        mask: u64,
    ) {
        let t = req.t_ms;
        let keep_waiting = self.capacity.is_some() || self.track_waiting;
        if keep_waiting {
            while self.waiting_starts.front().is_some_and(|&s| s <= t) {
                self.waiting_starts.pop_front();
            }
        }
        if let Some(cap) = self.capacity {
            // Only a request that must wait needs a place in the waiting room.
            if self.waiting_starts.len() >= cap && self.pool.next_start(t).1 > t {
                rec.fail(&req, sent_ms, ErrorKind::QueueFull, t);
                return;
            }
        }
        let (server, start) = self.pool.next_start(t);
        if start - sent_ms > rec.timeout_ms {
            // The client gives up before a server takes the request.
            rec.fail(&req, sent_ms, ErrorKind::TimedOut, sent_ms + rec.timeout_ms);
            return;
        }
        let s = self.service.sample(rng, &req).scaled(self.pool.slowdown(server, start));
        let service = s.total_ms;
        self.pool.occupy(server, start + service);
        if keep_waiting && start > t {
            self.waiting_starts.push_back(start);
        }
        rec.busy(start, service, 1);
        let rtt = network_rtt.map_or(0.0, |s| s.sample(rng));
        if rec.is_counted(sent_ms) {
            rec.batches += 1;
            rec.bill(service);
        }
        rec.done(&req, sent_ms, s.timing(start - sent_ms, rtt), mask);
    }
}
