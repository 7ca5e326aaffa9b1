//! When a test may declare a winner. A test looks at its figures once
//! every variant has `min_sample` leads, then at most once a day. Look L
//! may declare the leading variant only if its chance to be best reaches
//! 1 - (1 - confidence) / (k · L · (L + 1)) for k variants: the error
//! allowed is shared among the k variants and spent over the looks
//! (1/2, 1/6, 1/12, ... of it, summing to all of it), so however long a
//! test runs, with equal true rates a winner is declared no more often
//! than 1 - confidence allows (a union bound; the calibration tests
//! measure it).

use statrs::distribution::{ContinuousCDF, Normal};

use super::Tally;
use super::stats::chance_to_be_best;

/// A test's settings (`[step.test]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Test {
    pub metric: super::Metric,
    pub min_sample: u32,
    pub confidence: f64,
}

/// The chance to be best that look `look` (from 1) needs with `variants`
/// variants.
pub fn threshold(confidence: f64, variants: usize, look: u32) -> f64 {
    let l = f64::from(look.max(1));
    1.0 - (1.0 - confidence) / (variants.max(1) as f64 * l * (l + 1.0))
}

/// Whether every variant has its sample, so that a look may be taken.
pub fn ready(test: &Test, tallies: &[Tally]) -> bool {
    tallies.len() >= 2 && tallies.iter().all(|t| t.sent >= u64::from(test.min_sample))
}

/// What look `look` finds: each variant's chance to be best, and the
/// winner's index if the leader reached the look's threshold.
pub fn look(test: &Test, tallies: &[Tally], look: u32) -> (Vec<f64>, Option<usize>) {
    let chances = chance_to_be_best(tallies);
    let leader = chances.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
    let won = leader.filter(|&i| ready(test, tallies) && chances[i] >= threshold(test.confidence, tallies.len(), look));
    (chances, won)
}

/// Leads per variant the first look needs to find a better variant with
/// the chance `power`, when one variant converts at `better` and the
/// others at `base`: the one-sided two-proportion z-test at the first
/// look's error, (1 - confidence) / (2k), whose verdict the chance to be
/// best approaches as samples grow. README, *A/B tests*, prints examples.
pub fn sample_needed(base: f64, better: f64, confidence: f64, variants: usize, power: f64) -> Option<u64> {
    let delta = (better - base).abs();
    if delta <= 0.0 || !(0.0..1.0).contains(&base) || !(0.0..1.0).contains(&better) {
        return None;
    }
    let z = Normal::standard();
    let alpha = 1.0 - threshold(confidence, variants, 1);
    let (za, zb) = (z.inverse_cdf(1.0 - alpha), z.inverse_cdf(power));
    let mean = (base + better) / 2.0;
    let pooled = (2.0 * mean * (1.0 - mean)).sqrt();
    let apart = (base * (1.0 - base) + better * (1.0 - better)).sqrt();
    Some(((za * pooled + zb * apart) / delta).powi(2).ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_spend_the_error_over_looks_and_variants() {
        assert!((threshold(0.95, 2, 1) - (1.0 - 0.05 / 4.0)).abs() < 1e-12);
        assert!((threshold(0.95, 3, 2) - (1.0 - 0.05 / 18.0)).abs() < 1e-12);
        let spent: f64 = (1..10_000).map(|l| 2.0 * (1.0 - threshold(0.95, 2, l))).sum();
        assert!(spent < 0.05, "{spent}");
    }

    #[test]
    fn samples_needed_grow_as_the_difference_shrinks() {
        let wide = sample_needed(0.05, 0.10, 0.95, 2, 0.8).unwrap();
        let narrow = sample_needed(0.05, 0.06, 0.95, 2, 0.8).unwrap();
        assert!(wide > 300 && wide < 700, "{wide}");
        assert!(narrow > 10 * wide, "{narrow}");
        assert_eq!(sample_needed(0.05, 0.05, 0.95, 2, 0.8), None);
    }
}
