//! Closed forms of queueing theory that the simulation is checked against.
//!
//! Sources: L. Kleinrock, *Queueing Systems, Vol. 1: Theory* (Wiley, 1975): M/M/c (§3.5, the
//! Erlang C formula), M/M/c/K (§3.6), M/M/∞ (§3.4), M/G/1 (§5.6, the Pollaczek–Khinchine mean
//! value formula). D. Gross, C. Harris, *Fundamentals of Queueing Theory* (3rd ed., 1998), §2.3:
//! the waiting-time distribution of M/M/c, `P(W > t) = C(c, a) · e^{−(cμ−λ)t}`.
//!
//! Notation: arrival rate `λ`, service rate `μ` (per server), `c` servers, offered load
//! `a = λ/μ` in Erlangs, utilization `ρ = a/c`.

/// Erlang C: probability that an arrival must wait in M/M/c, `C(c, a)`. Requires `a < c`.
///
/// Computed from the Erlang B recursion `B(0) = 1`, `B(k) = a·B(k−1) / (k + a·B(k−1))`, then
/// `C = c·B / (c − a·(1 − B))`, which is stable for large `c`.
pub fn erlang_c(servers: u32, offered_erlangs: f64) -> f64 {
    let c = f64::from(servers);
    let b = erlang_b(servers, offered_erlangs);
    c * b / (c - offered_erlangs * (1.0 - b))
}

/// Erlang B: blocking probability of M/M/c/c (no waiting room).
pub fn erlang_b(servers: u32, offered_erlangs: f64) -> f64 {
    (1..=servers).fold(1.0, |b, k| offered_erlangs * b / (f64::from(k) + offered_erlangs * b))
}

/// M/M/c mean wait in queue, `W_q = C(c, a) / (cμ − λ)`, in the time unit of `mean_service`.
pub fn mmc_mean_wait(servers: u32, arrival_rate: f64, mean_service: f64) -> f64 {
    let mu = 1.0 / mean_service;
    let a = arrival_rate * mean_service;
    erlang_c(servers, a) / (f64::from(servers) * mu - arrival_rate)
}

/// M/M/c wait-in-queue quantile: the smallest `t` with `P(W ≤ t) ≥ q`, from
/// `P(W > t) = C · e^{−(cμ−λ)t}`; 0 when `q ≤ 1 − C`.
pub fn mmc_wait_quantile(servers: u32, arrival_rate: f64, mean_service: f64, q: f64) -> f64 {
    let a = arrival_rate * mean_service;
    let c_prob = erlang_c(servers, a);
    if q <= 1.0 - c_prob {
        return 0.0;
    }
    let theta = f64::from(servers) / mean_service - arrival_rate;
    (c_prob / (1.0 - q)).ln() / theta
}

/// M/M/c sojourn-time (wait + service) tail `P(T > t)`. With `θ = cμ − λ`:
/// `(1 − C)·e^{−μt} + C·(θ·e^{−μt} − μ·e^{−θt}) / (θ − μ)` (the hypoexponential tail), and
/// `C·(1 + μt)·e^{−μt}` in place of the second term when `θ = μ`.
pub fn mmc_sojourn_tail(servers: u32, arrival_rate: f64, mean_service: f64, t: f64) -> f64 {
    let mu = 1.0 / mean_service;
    let theta = f64::from(servers) * mu - arrival_rate;
    let c_prob = erlang_c(servers, arrival_rate * mean_service);
    let waited = if (theta - mu).abs() < 1e-12 * mu {
        (1.0 + mu * t) * (-mu * t).exp()
    } else {
        (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu)
    };
    (1.0 - c_prob) * (-mu * t).exp() + c_prob * waited
}

/// M/M/c sojourn-time quantile, by bisection on [`mmc_sojourn_tail`].
pub fn mmc_sojourn_quantile(servers: u32, arrival_rate: f64, mean_service: f64, q: f64) -> f64 {
    let tail = |t| mmc_sojourn_tail(servers, arrival_rate, mean_service, t);
    let mut hi = mean_service;
    while tail(hi) > 1.0 - q {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if tail(mid) > 1.0 - q { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

/// Pollaczek–Khinchine mean wait of M/G/1: `W_q = λ·E[S²] / (2(1 − ρ))`, `ρ = λ·E[S]`.
pub fn pk_mean_wait(arrival_rate: f64, mean_service: f64, second_moment_service: f64) -> f64 {
    let rho = arrival_rate * mean_service;
    arrival_rate * second_moment_service / (2.0 * (1.0 - rho))
}

/// M/M/c/K state probabilities, with `waiting_room` places besides the `c` in service
/// (so `K = c + waiting_room`): `p_n ∝ aⁿ/n!` for `n ≤ c`, `p_c·ρ^{n−c}` above.
pub fn mmck_state_probabilities(servers: u32, waiting_room: u32, offered_erlangs: f64) -> Vec<f64> {
    let c = servers as usize;
    let k = c + waiting_room as usize;
    let rho = offered_erlangs / servers as f64;
    let mut p = Vec::with_capacity(k + 1);
    p.push(1.0);
    for n in 1..=k {
        let prev = p[n - 1];
        p.push(if n <= c { prev * offered_erlangs / n as f64 } else { prev * rho });
    }
    let total: f64 = p.iter().sum();
    p.iter().map(|x| x / total).collect()
}

/// M/M/c/K blocking probability `p_K` (by PASTA, the share of arrivals dropped).
pub fn mmck_blocking(servers: u32, waiting_room: u32, offered_erlangs: f64) -> f64 {
    *mmck_state_probabilities(servers, waiting_room, offered_erlangs).last().unwrap_or(&0.0)
}

/// M/M/c/K mean wait of admitted requests, by Little's law on the queue: `L_q / λ_eff`.
pub fn mmck_mean_wait(
    servers: u32,
    waiting_room: u32,
    arrival_rate: f64,
    mean_service: f64,
) -> f64 {
    let p = mmck_state_probabilities(servers, waiting_room, arrival_rate * mean_service);
    let c = servers as usize;
    let lq: f64 = p.iter().enumerate().skip(c).map(|(n, pn)| (n - c) as f64 * pn).sum();
    let admitted_rate = arrival_rate * (1.0 - p[p.len() - 1]);
    lq / admitted_rate
}

/// Long-run share of time a component is down when it alternates between up times with mean
/// `mean_up` and down times with mean `mean_down` (renewal–reward theorem; any distributions):
/// `mean_down / (mean_up + mean_down)`. A device: `MTTR / (MTBF + MTTR)`; an outage process
/// with rate `r` per unit of up time and mean duration `D`: `r·D / (1 + r·D)`.
pub fn unavailability(mean_up: f64, mean_down: f64) -> f64 {
    mean_down / (mean_up + mean_down)
}

/// Share of time all of `n` independent, identical components are down at once: `pⁿ`.
pub fn all_down(n: u32, unavailability: f64) -> f64 {
    unavailability.powi(n as i32)
}

/// The gamma function Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; relative error
/// below 1e-13 on (0, 170)). Used for the Weibull mean `λ·Γ(1 + 1/k)`.
pub fn gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)·Γ(1−x) = π / sin(πx).
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma(1.0 - x));
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_known_values() {
        // M/M/1: C = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // M/M/2 with a = 1: C = a²/(2(2−a)) / (1 + a + a²/(2(2−a))) = 0.5/2.5 = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // M/M/4 with a = 3.2 (the mmc-check scenario): C ≈ 0.5964 (direct sum formula).
        let a: f64 = 3.2;
        let top = a.powi(4) / 24.0 * 4.0 / (4.0 - a);
        let bottom: f64 =
            (0..4).map(|k| a.powi(k) / (1..=k).product::<i32>().max(1) as f64).sum::<f64>() + top;
        assert!((erlang_c(4, a) - top / bottom).abs() < 1e-12);
    }

    #[test]
    fn mm1_formulas() {
        // M/M/1, λ = 0.5, E[S] = 1: W_q = ρ/(μ − λ) = 1, and P-K agrees with 2E[S]² = E[S²].
        assert!((mmc_mean_wait(1, 0.5, 1.0) - 1.0).abs() < 1e-12);
        assert!((pk_mean_wait(0.5, 1.0, 2.0) - 1.0).abs() < 1e-12);
        // Sojourn time of M/M/1 is exponential with rate μ − λ.
        let q = mmc_sojourn_quantile(1, 0.5, 1.0, 0.95);
        assert!((q - (20.0f64).ln() / 0.5).abs() < 1e-9);
    }

    #[test]
    fn sojourn_tail_limit_case_is_continuous() {
        // θ = μ happens at c = 2, λ = μ.
        let at = mmc_sojourn_tail(2, 1.0, 1.0, 1.3);
        let near = mmc_sojourn_tail(2, 1.0 + 1e-7, 1.0, 1.3);
        assert!((at - near).abs() < 1e-6);
    }

    #[test]
    fn mmck_reduces_to_erlang_b_without_waiting_room() {
        assert!((mmck_blocking(3, 0, 2.0) - erlang_b(3, 2.0)).abs() < 1e-12);
        // M/M/1/K: p_K = (1−ρ)ρ^K / (1−ρ^{K+1}) with K = 1 + waiting room.
        let rho: f64 = 0.8;
        let expect = (1.0 - rho) * rho.powi(4) / (1.0 - rho.powi(5));
        assert!((mmck_blocking(1, 3, rho) - expect).abs() < 1e-12);
    }

    #[test]
    fn gamma_function() {
        for (x, want) in [(1.0, 1.0), (2.0, 1.0), (5.0, 24.0), (0.5, std::f64::consts::PI.sqrt())] {
            assert!((gamma(x) - want).abs() < 1e-12 * want, "Γ({x}) = {}", gamma(x));
        }
        // Weibull shape 2: mean = scale · Γ(1.5) = scale · √π / 2.
        assert!((gamma(1.5) - std::f64::consts::PI.sqrt() / 2.0).abs() < 1e-13);
    }
}
