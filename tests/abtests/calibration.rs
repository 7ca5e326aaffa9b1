//! Calibration of the A/B test's decision rule by simulation (README,
//! *A/B tests*): with equal true rates a winner is declared no more often
//! than 1 - confidence allows, however many looks are taken; with a real
//! difference the better variant is found at the first look, at the sample
//! `sample_needed` predicts, about as often as the power asked for.
//! Deterministic: a fixed-seed generator, the same draws on every run.

use nurture::abtest::decide::{Test, look, ready, sample_needed};
use nurture::abtest::{Metric, Tally};

/// SplitMix64: small, fast, and reproducible everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` leads at rate `p`: how many succeed.
    fn hits(&mut self, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| self.next() < p).count() as u64
    }
}

fn test(min_sample: u32) -> Test {
    Test { metric: Metric::Replied, min_sample, confidence: 0.95 }
}

/// Runs of a test with these true rates: the first look at `min_sample`
/// leads per variant, then `daily` more leads each day for `looks` looks.
/// Returns how many runs each variant won (and at which look).
fn run(rates: &[f64], min_sample: u32, daily: u64, looks: u32, runs: u32, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut rng = Rng(seed);
    let mut wins = vec![0; rates.len()];
    let mut at_look = vec![0; looks as usize + 1];
    let t = test(min_sample);
    for _ in 0..runs {
        let mut tallies: Vec<Tally> = rates
            .iter()
            .map(|&p| Tally { sent: u64::from(min_sample), hits: rng.hits(u64::from(min_sample), p) })
            .collect();
        for l in 1..=looks {
            assert!(ready(&t, &tallies));
            if let (_, Some(w)) = look(&t, &tallies, l) {
                wins[w] += 1;
                at_look[l as usize] += 1;
                break;
            }
            for (tally, &p) in tallies.iter_mut().zip(rates) {
                tally.sent += daily;
                tally.hits += rng.hits(daily, p);
            }
        }
    }
    (wins, at_look)
}

#[test]
fn equal_rates_rarely_get_a_winner_however_often_the_test_looks() {
    // Two variants replying at 5 %, 200 leads each, then 100 a day,
    // looked at for 15 days; and three variants at 10 %.
    for (rates, seed) in [(vec![0.05, 0.05], 1), (vec![0.10, 0.10, 0.10], 2)] {
        let runs = 1_000;
        let (wins, _) = run(&rates, 200, 100, 15, runs, seed);
        let declared: u32 = wins.iter().sum();
        let share = f64::from(declared) / f64::from(runs);
        eprintln!("rates {rates:?}: a winner in {declared} of {runs} runs ({:.1} %)", share * 100.0);
        assert!(share <= 0.05, "false winners in {:.1} % of runs; confidence 0.95 allows 5 %", share * 100.0);
    }
}

#[test]
fn a_real_difference_is_found_at_the_predicted_sample() {
    // Replies at 5 % against 10 %: the sample for 80 % power at the first
    // look, then one look only.
    let n = sample_needed(0.05, 0.10, 0.95, 2, 0.8).expect("a difference");
    let runs = 400;
    let (wins, _) = run(&[0.05, 0.10], u32::try_from(n).unwrap(), 0, 1, runs, 3);
    let found = f64::from(wins[1]) / f64::from(runs);
    eprintln!(
        "{n} leads per variant: the better variant found in {:.1} % of runs, the worse in {}",
        found * 100.0,
        wins[0]
    );
    assert!((0.70..=0.90).contains(&found), "found in {:.1} % of runs; predicted 80 %", found * 100.0);
    assert_eq!(wins[0], 0, "the worse variant never wins");
}
