//! How likely each variant is to be the best, and each rate's interval.
//!
//! Each variant's true rate gets a Beta(1 + hits, 1 + misses) posterior
//! (a uniform prior updated by its leads). The chance that variant i is
//! the best is P(p_i > p_j for every other j) = ∫ f_i(x) ∏ F_j(x) dx,
//! summed on one grid fine enough for the narrowest posterior: exact up to
//! the grid, deterministic (no sampling), and cheap (a few thousand
//! points per variant).

use super::Tally;

/// Posterior probability that each variant has the highest rate, in the
/// order given; they sum to 1. Empty in, empty out.
pub fn chance_to_be_best(tallies: &[Tally]) -> Vec<f64> {
    if tallies.is_empty() {
        return Vec::new();
    }
    let post: Vec<(f64, f64)> = tallies
        .iter()
        .map(|t| {
            let hits = t.hits.min(t.sent) as f64;
            (1.0 + hits, 1.0 + t.sent as f64 - hits)
        })
        .collect();
    let (mean, sd): (Vec<f64>, Vec<f64>) = post
        .iter()
        .map(|&(a, b)| {
            let n = a + b;
            (a / n, (a * b / (n * n * (n + 1.0))).sqrt())
        })
        .unzip();
    // Outside 12 standard deviations of every mean no posterior has mass
    // worth counting (below 1e-30 of it for these shapes).
    let lo = mean.iter().zip(&sd).map(|(m, s)| m - 12.0 * s).fold(1.0, f64::min).max(0.0);
    let hi = mean.iter().zip(&sd).map(|(m, s)| m + 12.0 * s).fold(0.0, f64::max).min(1.0);
    let narrowest = sd.iter().copied().fold(f64::INFINITY, f64::min);
    // Ten cells per standard deviation of the narrowest posterior.
    let cells = (((hi - lo) / (narrowest / 10.0)).ceil() as usize).clamp(1_000, 400_000);
    let width = (hi - lo) / cells as f64;
    let xs: Vec<f64> = (0..cells).map(|t| lo + (t as f64 + 0.5) * width).collect();
    let (ln_x, ln_1x): (Vec<f64>, Vec<f64>) = xs.iter().map(|x| (x.ln(), (1.0 - x).ln())).unzip();
    // Each posterior's mass per cell (midpoint rule, normalised on the
    // grid, so the Beta function is never needed), and its CDF at each
    // cell's middle.
    let mut mass = Vec::with_capacity(post.len());
    let mut cdf = Vec::with_capacity(post.len());
    for &(a, b) in &post {
        let log: Vec<f64> = ln_x.iter().zip(&ln_1x).map(|(l, l1)| (a - 1.0) * l + (b - 1.0) * l1).collect();
        let top = log.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut m: Vec<f64> = log.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = m.iter().sum();
        m.iter_mut().for_each(|v| *v /= total);
        let mut below = 0.0;
        let c: Vec<f64> = m
            .iter()
            .map(|v| {
                let at = below + v / 2.0;
                below += v;
                at
            })
            .collect();
        mass.push(m);
        cdf.push(c);
    }
    let mut best: Vec<f64> = (0..post.len())
        .map(|i| {
            (0..cells)
                .map(|t| {
                    let others: f64 = (0..post.len()).filter(|&j| j != i).map(|j| cdf[j][t]).product();
                    mass[i][t] * others
                })
                .sum()
        })
        .collect();
    let total: f64 = best.iter().sum();
    if total > 0.0 {
        best.iter_mut().for_each(|p| *p /= total);
    }
    best
}

/// The 95 % Wilson score interval of a rate of `hits` in `sent` (sound
/// near 0 %, where replies and hand-offs live); `None` for no leads.
pub fn interval(t: Tally) -> Option<(f64, f64)> {
    if t.sent == 0 {
        return None;
    }
    const Z: f64 = 1.959_963_984_540_054;
    let n = t.sent as f64;
    let p = t.hits.min(t.sent) as f64 / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    // At 0 or all hits the bound is exact; rounding would leave a hair.
    let lo = if t.hits == 0 { 0.0 } else { (centre - half).max(0.0) };
    let hi = if t.hits >= t.sent { 1.0 } else { (centre + half).min(1.0) };
    Some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sent: u64, hits: u64) -> Tally {
        Tally { sent, hits }
    }

    #[test]
    fn equal_tallies_are_equally_likely_to_be_best() {
        for p in chance_to_be_best(&[t(200, 10), t(200, 10), t(200, 10)]) {
            assert!((p - 1.0 / 3.0).abs() < 1e-6, "{p}");
        }
        let none = chance_to_be_best(&[t(0, 0), t(0, 0)]);
        assert!((none[0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn two_variants_match_the_closed_form() {
        // P(p_b > p_a) for Beta posteriors with integer parameters
        // (Evan Miller's sum), against the grid.
        let (a, b) = (t(300, 12), t(300, 24));
        let (aa, ba, ab, bb) = (13.0, 289.0, 25.0, 277.0);
        let ln_beta = |x: f64, y: f64| ln_gamma(x) + ln_gamma(y) - ln_gamma(x + y);
        let exact: f64 = (0..(ab as usize))
            .map(|i| {
                let i = i as f64;
                (ln_beta(aa + i, ba + bb) - (bb + i).ln() - ln_beta(1.0 + i, bb) - ln_beta(aa, ba)).exp()
            })
            .sum();
        let grid = chance_to_be_best(&[a, b]);
        assert!((grid[1] - exact).abs() < 1e-4, "grid {} exact {exact}", grid[1]);
        assert!(grid[1] > 0.95 && grid[1] < 0.99, "{}", grid[1]);
    }

    fn ln_gamma(x: f64) -> f64 {
        statrs::function::gamma::ln_gamma(x)
    }

    #[test]
    fn far_apart_and_narrow_posteriors_still_sum_to_one() {
        let p = chance_to_be_best(&[t(1_000_000, 10_000), t(1_000_000, 400_000)]);
        assert!(p[1] > 0.999_999 && (p[0] + p[1] - 1.0).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn wilson_intervals_stay_within_zero_and_one() {
        assert_eq!(interval(t(0, 0)), None);
        let (lo, hi) = interval(t(100, 0)).unwrap();
        assert!(lo == 0.0 && hi > 0.03 && hi < 0.04, "{lo} {hi}");
        let (lo, hi) = interval(t(200, 20)).unwrap();
        assert!(lo > 0.06 && lo < 0.07 && hi > 0.14 && hi < 0.15, "{lo} {hi}");
    }
}
