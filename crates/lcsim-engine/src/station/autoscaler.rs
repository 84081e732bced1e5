//! Autoscaled cloud instances: scale-up delay, cold starts, idle scale-down and billing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use lcsim_core::reliability::{Autoscale, ScaleTarget};

use crate::arrivals::Request;
use crate::random::{Sampler, SimRng};
use crate::recorder::ErrorKind;
use crate::recorder::Recorder;
use crate::station::service::RequestService;

#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) launched: f64,
    pub(crate) ready: f64,
    /// Free time of each slot.
    pub(crate) slots: Vec<f64>,
    /// When its last job ends (its ready time before any).
    pub(crate) last_end: f64,
}

#[derive(Debug)]
pub(crate) struct Autoscaler {
    pub(crate) config: Autoscale,
    pub(crate) cold_start: Sampler,
    pub(crate) service: RequestService,
    pub(crate) instances: Vec<Instance>,
    /// End times of requests assigned and not yet finished, as bit patterns.
    pub(crate) ends: BinaryHeap<Reverse<u64>>,
    /// Start times of requests assigned and not yet started.
    pub(crate) starts: BinaryHeap<Reverse<u64>>,
}

pub(crate) fn pop_until(heap: &mut BinaryHeap<Reverse<u64>>, t: f64) {
    while heap.peek().is_some_and(|r| f64::from_bits(r.0) <= t) {
        heap.pop();
    }
}

impl Autoscaler {
    pub(crate) fn new(config: Autoscale, service: RequestService) -> Self {
        let instances = (0..config.min_instances)
            .map(|_| Instance {
                launched: 0.0,
                ready: 0.0,
                slots: vec![0.0; config.concurrency as usize],
                last_end: 0.0,
            })
            .collect();
        Autoscaler {
            cold_start: Sampler::new(&config.cold_start_ms),
            config,
            service,
            instances,
            ends: BinaryHeap::new(),
            starts: BinaryHeap::new(),
        }
    }

    /// The slot that can start a request arriving at `t` first: `(instance, slot, start)`.
    pub(crate) fn best_slot(&self, t: f64) -> Option<(usize, usize, f64)> {
        let mut best: Option<(usize, usize, f64)> = None;
        for (i, inst) in self.instances.iter().enumerate() {
            for (j, &free) in inst.slots.iter().enumerate() {
                let s = free.max(t);
                if best.is_none_or(|b| s < b.2) {
                    best = Some((i, j, s));
                }
            }
        }
        best
    }

    /// Stops instances idle for the scale-down time by `t`, longest idle first, keeping
    /// `min_instances`.
    pub(crate) fn scale_down(&mut self, t: f64, rec: &mut Recorder) {
        let keep = self.config.min_instances as usize;
        if self.instances.len() <= keep {
            return;
        }
        let idle = self.config.scale_down_after_idle_ms;
        let mut expired: Vec<(f64, usize)> = self
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.last_end + idle, i))
            .filter(|&(at, _)| at <= t)
            .collect();
        if expired.is_empty() {
            return;
        }
        expired.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        expired.truncate(self.instances.len() - keep);
        let mut remove: Vec<usize> = expired.iter().map(|&(_, i)| i).collect();
        for &(at, i) in &expired {
            rec.instance(self.instances[i].launched, at);
        }
        remove.sort_unstable();
        for i in remove.into_iter().rev() {
            self.instances.swap_remove(i);
        }
    }

    pub(crate) fn handle(
        &mut self,
        req: Request,
        sent_ms: f64,
        rng: &mut SimRng,
        rec: &mut Recorder,
        rtt: Option<&Sampler>,
    ) {
        let t = req.t_ms;
        self.scale_down(t, rec);
        pop_until(&mut self.ends, t);
        pop_until(&mut self.starts, t);
        let mut best = self.best_slot(t);
        let must_wait = best.is_none_or(|b| b.2 > t);
        let conc = f64::from(self.config.concurrency);
        let desired = match self.config.target {
            ScaleTarget::Utilization(u) => ((self.ends.len() + 1) as f64 / (conc * u)).ceil(),
            ScaleTarget::QueuePerInstance(q) if must_wait => {
                ((self.starts.len() + 1) as f64 / q).ceil()
            }
            ScaleTarget::QueuePerInstance(_) => 0.0,
        } as usize;
        let desired = desired.min(self.config.max_instances.map_or(usize::MAX, |m| m as usize));
        if desired > self.instances.len() {
            for _ in self.instances.len()..desired {
                let ready = t + self.config.scale_up_delay_ms + self.cold_start.sample(rng);
                self.instances.push(Instance {
                    launched: t,
                    ready,
                    slots: vec![ready; self.config.concurrency as usize],
                    last_end: ready,
                });
            }
            best = self.best_slot(t);
        }
        let Some((i, j, start)) = best else {
            rec.fail(&req, sent_ms, ErrorKind::Unavailable, t);
            return;
        };
        if start - sent_ms > rec.timeout_ms {
            rec.fail(&req, sent_ms, ErrorKind::TimedOut, sent_ms + rec.timeout_ms);
            return;
        }
        let s = self.service.sample(rng, &req);
        let service = s.total_ms;
        let inst = &mut self.instances[i];
        inst.slots[j] = start + service;
        inst.last_end = inst.last_end.max(start + service);
        self.ends.push(Reverse((start + service).to_bits()));
        if start > t {
            self.starts.push(Reverse(start.to_bits()));
        }
        let cold = start == inst.ready && inst.ready > t;
        rec.busy(start, service, 1);
        let rtt = rtt.map_or(0.0, |s| s.sample(rng));
        if rec.is_counted(sent_ms) {
            rec.batches += 1;
            rec.cold_starts += u64::from(cold);
        }
        rec.done(&req, sent_ms, s.timing(start - sent_ms, rtt), rec.mask);
    }

    /// Bills the instances still running after the last arrival: each stops when its idle
    /// time runs out, except the `min_instances` that would stop last, which run on.
    pub(crate) fn close(&mut self, rec: &mut Recorder) {
        let idle = self.config.scale_down_after_idle_ms;
        let mut stops: Vec<(f64, f64)> =
            self.instances.iter().map(|i| (i.last_end + idle, i.launched)).collect();
        stops.sort_by(|a, b| a.0.total_cmp(&b.0));
        let stopping = stops.len().saturating_sub(self.config.min_instances as usize);
        for (k, &(stop, launched)) in stops.iter().enumerate() {
            rec.instance(launched, if k < stopping { stop } else { f64::INFINITY });
        }
        self.instances.clear();
    }
}
