//! Hybrid deployments: routing each request between a local and a cloud member.
//!
//! A hybrid holds its own copies of its members (their devices, instances and queues serve
//! only the hybrid's traffic). Each member copy draws from the same random stream as the
//! stand-alone deployment of that name and sees the same failure timeline, so a hybrid that
//! routes everything to one member reproduces that deployment exactly (common random numbers).
//!
//! * `overflow`: local first; to the cloud when more than `overflow_queue_above` requests
//!   wait locally or the local side is down.
//! * `fallback`: cloud first; when the cloud fails (outage, rate limit, timeout) or has not
//!   answered within `fallback_timeout_ms`, the client serves the request on the device. The
//!   abandoned cloud call is still billed.
//! * `rerank`: two stages, cloud then local (`order = "cloud_first"`) or the reverse; the
//!   second starts when the first answers; latency and cost of both count.
//! * `data_must_stay_local`: this share of requests (drawn per request) never goes to the
//!   cloud; it is served by the local member alone.
//!
//! End-to-end latency runs from the client's send to the final answer. Members emit outcomes
//! as soon as they are decided; a second stage is fed in time order through a queue of
//! pending hand-offs, released up to each new arrival's time.

use std::collections::BinaryHeap;

use lcsim_core::reliability::{Hybrid, Policy, RerankOrder};
use rand::RngExt;

use crate::arrivals::Request;
use crate::random::SimRng;
use crate::recorder::{Outcome, Recorder, Timing};
use crate::station::DeploymentSim;

/// A deployment being simulated: a single deployment or a hybrid of two nodes.
#[derive(Debug)]
pub enum Node {
    Leaf(Box<DeploymentSim>),
    Hybrid(Box<HybridSim>),
}

#[derive(Debug, Clone, Copy)]
struct Job {
    /// The request as the hybrid received it (arrival time = when the client sent it here).
    req: Request,
    /// Its tag from the parent hybrid, if this hybrid is a member of another.
    parent_tag: u32,
    /// Route bits of the stages done so far.
    mask: u64,
    /// The next outcome is the final one.
    last: bool,
}

/// A hand-off to the second stage at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    at_ms: f64,
    job: u32,
}

impl Eq for Pending {}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.at_ms.total_cmp(&self.at_ms).then(other.job.cmp(&self.job))
    }
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug)]
pub struct HybridSim {
    /// The deployment's index in the scenario.
    pub index: usize,
    policy: Hybrid,
    local: Node,
    cloud: Node,
    rng: SimRng,
    jobs: Vec<Job>,
    free: Vec<u32>,
    pending: BinaryHeap<Pending>,
    /// Latest time fed to the second stage (hand-offs never go back in time).
    second_clock: f64,
    outcomes: Vec<Outcome>,
    pub recorder: Recorder,
}

impl Node {
    pub fn offer(&mut self, req: Request) {
        match self {
            Node::Leaf(l) => l.offer(req),
            Node::Hybrid(h) => h.offer(req),
        }
    }

    pub fn process(&mut self, requests: &[Request]) {
        match self {
            Node::Leaf(l) => l.process(requests),
            Node::Hybrid(h) => {
                for r in requests {
                    h.offer(*r);
                }
            }
        }
    }

    pub fn advance(&mut self, t: f64) {
        match self {
            Node::Leaf(l) => l.advance(t),
            Node::Hybrid(h) => h.advance(t),
        }
    }

    pub fn finish(&mut self) {
        match self {
            Node::Leaf(l) => l.finish(),
            Node::Hybrid(h) => h.finish(),
        }
    }

    fn queue_len(&mut self, t: f64) -> usize {
        match self {
            Node::Leaf(l) => l.queue_len(t),
            Node::Hybrid(h) => h.local.queue_len(t),
        }
    }

    fn is_down(&self, t: f64) -> bool {
        match self {
            Node::Leaf(l) => l.is_down(t),
            Node::Hybrid(h) => match h.policy.policy {
                Policy::Rerank => h.local.is_down(t) || h.cloud.is_down(t),
                _ => h.local.is_down(t) && h.cloud.is_down(t),
            },
        }
    }

    pub fn recorder(&self) -> &Recorder {
        match self {
            Node::Leaf(l) => &l.recorder,
            Node::Hybrid(h) => &h.recorder,
        }
    }

    pub fn recorder_mut(&mut self) -> &mut Recorder {
        match self {
            Node::Leaf(l) => &mut l.recorder,
            Node::Hybrid(h) => &mut h.recorder,
        }
    }

    /// Every single deployment inside, depth first (a leaf: itself).
    pub fn leaves<'a>(&'a self, out: &mut Vec<&'a DeploymentSim>) {
        match self {
            Node::Leaf(l) => out.push(l),
            Node::Hybrid(h) => {
                h.local.leaves(out);
                h.cloud.leaves(out);
            }
        }
    }

    fn take_outcomes(&mut self, into: &mut Vec<Outcome>) {
        self.recorder_mut().take_outcomes(into);
    }
}

/// Which member of a hybrid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Local,
    Cloud,
}

impl HybridSim {
    pub fn new(
        index: usize,
        policy: Hybrid,
        local: Node,
        cloud: Node,
        rng: SimRng,
        recorder: Recorder,
    ) -> Self {
        HybridSim {
            index,
            policy,
            local,
            cloud,
            rng,
            jobs: Vec::new(),
            free: Vec::new(),
            pending: BinaryHeap::new(),
            second_clock: 0.0,
            outcomes: Vec::new(),
            recorder,
        }
    }

    /// The member that answers first and the one that may get a hand-off.
    fn stages(&self) -> (Member, Member) {
        match (self.policy.policy, self.policy.order) {
            (Policy::Overflow, _) => (Member::Local, Member::Cloud),
            (Policy::Fallback, _) | (Policy::Rerank, RerankOrder::CloudFirst) => {
                (Member::Cloud, Member::Local)
            }
            (Policy::Rerank, RerankOrder::LocalFirst) => (Member::Local, Member::Cloud),
        }
    }

    fn node(&mut self, m: Member) -> &mut Node {
        match m {
            Member::Local => &mut self.local,
            Member::Cloud => &mut self.cloud,
        }
    }

    fn collect(&mut self, m: Member) {
        let mut outcomes = std::mem::take(&mut self.outcomes);
        self.node(m).take_outcomes(&mut outcomes);
        for o in outcomes.drain(..) {
            self.handle(m, o);
        }
        self.outcomes = outcomes;
    }

    fn send(&mut self, m: Member, job: u32, at_ms: f64) {
        let j = self.jobs[job as usize];
        let req = j.req.tagged(at_ms, job, j.req.private());
        self.node(m).offer(req);
        self.collect(m);
    }

    fn advance(&mut self, t: f64) {
        let (first, second) = self.stages();
        self.node(first).advance(t);
        self.collect(first);
        while self.pending.peek().is_some_and(|p| p.at_ms <= t) {
            let p = self.pending.pop().expect("peeked");
            let at = p.at_ms.max(self.second_clock);
            self.second_clock = at;
            self.send(second, p.job, at);
        }
        self.node(second).advance(t);
        self.collect(second);
        self.second_clock = self.second_clock.max(t);
    }

    fn offer(&mut self, req: Request) {
        let t = req.t_ms;
        self.advance(t);
        let share = self.policy.data_must_stay_local;
        let private = req.private() || (share > 0.0 && self.rng.random::<f64>() < share);
        // The request as a member sees it: tagged with this hybrid's job number on sending.
        let job = Job { req: req.tagged(t, 0, private), parent_tag: req.tag, mask: 0, last: true };
        let id = match self.free.pop() {
            Some(id) => {
                self.jobs[id as usize] = job;
                id
            }
            None => {
                self.jobs.push(job);
                (self.jobs.len() - 1) as u32
            }
        };
        let (first, _) = self.stages();
        let member = if private {
            Member::Local
        } else {
            match self.policy.policy {
                Policy::Overflow => {
                    let overflow = self.local.is_down(t)
                        || self.local.queue_len(t) > self.policy.overflow_queue_above as usize;
                    // queue_len may have settled batches: hand their outcomes on first.
                    self.collect(Member::Local);
                    if overflow { Member::Cloud } else { Member::Local }
                }
                Policy::Fallback | Policy::Rerank => first,
            }
        };
        // A request with a second stage to go: rerank's first stage, fallback's cloud call.
        self.jobs[id as usize].last = private
            || match self.policy.policy {
                Policy::Overflow => true,
                Policy::Fallback => member == Member::Local,
                Policy::Rerank => member != first,
            };
        self.send(member, id, t);
    }

    fn handle(&mut self, _from: Member, o: Outcome) {
        let id = o.req.job();
        let job = &mut self.jobs[id as usize];
        if let Ok(mask) = o.result {
            job.mask |= mask;
        }
        if !job.last {
            let start = job.req.t_ms;
            let handoff = match (self.policy.policy, o.result) {
                (Policy::Fallback, Ok(_))
                    if o.end_ms - start <= self.policy.fallback_timeout_ms =>
                {
                    None
                }
                (Policy::Fallback, _) => {
                    Some(o.end_ms.min(start + self.policy.fallback_timeout_ms))
                }
                (Policy::Rerank, Ok(_)) => Some(o.end_ms),
                (Policy::Rerank, Err(_)) => None,
                (Policy::Overflow, _) => None,
            };
            if let Some(at_ms) = handoff {
                job.last = true;
                if self.policy.policy == Policy::Fallback {
                    // The cloud's answer, if it comes, is not used.
                    job.mask = 0;
                }
                self.pending.push(Pending { at_ms, job: id });
                return;
            }
        }
        let job = *job;
        self.free.push(id);
        let latency = o.end_ms - job.req.t_ms;
        // Reported to a parent hybrid with the parent's tag.
        let req = Request { tag: job.parent_tag, ..job.req };
        match o.result {
            Ok(_) => {
                // The path actually taken: its first token and its token gaps.
                let timing = Timing {
                    wait_ms: 0.0,
                    latency_ms: latency,
                    ttft_ms: o.first_ms - job.req.t_ms,
                    tpot_ms: o.tpot_ms,
                };
                self.recorder.done(&req, req.t_ms, timing, job.mask)
            }
            Err(kind) => self.recorder.fail(&req, req.t_ms, kind, o.end_ms),
        }
    }

    fn finish(&mut self) {
        let (first, second) = self.stages();
        self.node(first).finish();
        self.collect(first);
        while let Some(p) = self.pending.pop() {
            let at = p.at_ms.max(self.second_clock);
            self.second_clock = at;
            self.send(second, p.job, at);
        }
        self.node(second).finish();
        self.collect(second);
    }
}
