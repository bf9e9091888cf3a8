//! Signs that a GAN run has failed for good. The post's recipe, run
//! literally, ends this way: D's loss falls to ~0 while G's climbs (D wins and
//! G's gradient vanishes), and G draws one or two digits (mode collapse).

use serde::{Deserialize, Serialize};

use super::Metrics;

/// D has won when, over the last 200 steps, its mean verdict on the fakes is
/// below this while it still calls real images real: it tells every fake
/// apart, and G's gradient has vanished. The rule reads D's outputs, not its
/// loss, so it holds for every recipe: the stable recipe's label smoothing
/// (real images labelled 0.9) keeps D's loss above 0.325 however sure D is.
pub const D_FAKE_FLOOR: f64 = 0.01;
/// ...and its mean verdict on real images above this.
pub const D_REAL_MIN: f64 = 0.5;
/// Mode collapse: one digit gets at least this share of the samples. The
/// post's collapsed GANs draw one digit only (100 %); healthy runs stay
/// under 45 % from epoch 5 on (measured on three seeds).
pub const TOP_DIGIT_SHARE: f64 = 0.9;
/// Digits are judged from this epoch on: every GAN starts by drawing one
/// blob (the stable recipe's first epoch reads as 100 % "8"s), and covers
/// fewer than 5 digits until about epoch 5.
pub const MODE_WARMUP_EPOCHS: usize = 5;

/// Why a run counts as collapsed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "sign", rename_all = "kebab-case")]
pub enum Sign {
    /// A loss became NaN or infinite.
    NonFinite,
    /// Over the last 200 steps D called the fakes fake with certainty
    /// (mean D(G(z)) below [`D_FAKE_FLOOR`]) and real images real.
    DiscriminatorWins { d_real: f64, d_fake: f64, g_loss: f64 },
    /// The samples are almost all one digit.
    ModeCollapse { coverage: usize, top_digit: usize, top_share: f64 },
}

impl std::fmt::Display for Sign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sign::NonFinite => write!(f, "a loss is not finite"),
            Sign::DiscriminatorWins { d_real, d_fake, g_loss } => write!(
                f,
                "D wins: mean D(G(z)) {d_fake:.4} < {D_FAKE_FLOOR} with D(x) {d_real:.2}, G loss {g_loss:.1}; \
                 G's gradient has vanished"
            ),
            Sign::ModeCollapse { coverage, top_digit, top_share } => write!(
                f,
                "mode collapse: {:.0} % of samples are {top_digit}s, {coverage}/10 digits drawn",
                top_share * 100.0
            ),
        }
    }
}

/// Checks mean losses `[d_loss, g_loss, d_real, d_fake]` over recent steps.
pub fn check_losses(means: [f64; 4]) -> Option<Sign> {
    let [_, g_loss, d_real, d_fake] = means;
    if means.iter().any(|v| !v.is_finite()) {
        Some(Sign::NonFinite)
    } else if d_fake < D_FAKE_FLOOR && d_real > D_REAL_MIN {
        Some(Sign::DiscriminatorWins { d_real, d_fake, g_loss })
    } else {
        None
    }
}

/// Checks what the classifier says of the samples after `epochs` whole epochs.
pub fn check_metrics(metrics: &Metrics, epochs: usize) -> Option<Sign> {
    let (top_digit, top_share) = metrics.top_digit();
    let coverage = metrics.coverage();
    (epochs >= MODE_WARMUP_EPOCHS && top_share >= TOP_DIGIT_SHARE).then_some(Sign::ModeCollapse {
        coverage,
        top_digit,
        top_share,
    })
}

/// The first collapse of a run, as recorded in its `collapse.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collapse {
    pub epoch: usize,
    pub step: u64,
    #[serde(flatten)]
    pub sign: Sign,
    /// The epoch whose checkpoint was kept as `checkpoint-good.mpk`, if any.
    pub good_epoch: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(histogram: [usize; 10]) -> Metrics {
        Metrics { samples: histogram.iter().sum(), fid: 1.0, fid_matched: 1.0, inception_score: 1.0, histogram }
    }

    #[test]
    fn healthy_numbers_pass() {
        assert_eq!(check_losses([1.2, 1.1, 0.55, 0.3]), None);
        assert_eq!(check_metrics(&metrics([100, 120, 90, 95, 100, 80, 110, 105, 95, 105]), 10), None);
        // Early on, one blob read as one digit, or few digits, are normal.
        assert_eq!(check_metrics(&metrics([0, 0, 0, 0, 0, 0, 0, 0, 1000, 0]), 1), None);
        assert_eq!(check_metrics(&metrics([0, 400, 0, 300, 0, 0, 0, 0, 300, 0]), 5), None);
    }

    #[test]
    fn the_posts_failures_are_caught() {
        // Its GAN at epoch 13: D 0.0, G 57.
        assert!(matches!(check_losses([0.0003, 57.0, 1.0, 0.0]), Some(Sign::DiscriminatorWins { .. })));
        // The stable recipe's D, as sure as it can be, never gets its loss below
        // 0.325 (real labels 0.9), yet it has won all the same.
        assert!(matches!(check_losses([0.33, 9.0, 0.9, 0.001]), Some(Sign::DiscriminatorWins { .. })));
        assert_eq!(check_losses([f64::NAN, 1.0, 0.5, 0.5]), Some(Sign::NonFinite));
        // Its GAN drawing only "1"s.
        let ones = check_metrics(&metrics([0, 950, 50, 0, 0, 0, 0, 0, 0, 0]), 8);
        assert_eq!(ones, Some(Sign::ModeCollapse { coverage: 2, top_digit: 1, top_share: 0.95 }));
    }
}
