//! Signs that a GAN run has failed for good. The post's recipe, run
//! literally, ends this way: D's loss falls to ~0 while G's climbs (D wins and
//! G's gradient vanishes), and G draws one or two digits (mode collapse).

use serde::{Deserialize, Serialize};

use super::Metrics;

/// D loss averaged over the last 200 steps below this means D has won (a healthy
/// run's stays near 1; the post's collapsed GAN's reaches 0).
pub const D_LOSS_FLOOR: f64 = 0.05;
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
    /// D's mean loss over the last 200 steps fell below [`D_LOSS_FLOOR`].
    DiscriminatorWins { d_loss: f64, g_loss: f64 },
    /// The samples are almost all one digit.
    ModeCollapse { coverage: usize, top_digit: usize, top_share: f64 },
}

impl std::fmt::Display for Sign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sign::NonFinite => write!(f, "a loss is not finite"),
            Sign::DiscriminatorWins { d_loss, g_loss } => {
                write!(
                    f,
                    "D wins: mean D loss {d_loss:.4} < {D_LOSS_FLOOR}, G loss {g_loss:.1}; G's gradient has vanished"
                )
            }
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
    let [d_loss, g_loss, ..] = means;
    if means.iter().any(|v| !v.is_finite()) {
        Some(Sign::NonFinite)
    } else if d_loss < D_LOSS_FLOOR {
        Some(Sign::DiscriminatorWins { d_loss, g_loss })
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
        Metrics { samples: histogram.iter().sum(), fid: 1.0, inception_score: 1.0, histogram }
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
        assert_eq!(check_losses([f64::NAN, 1.0, 0.5, 0.5]), Some(Sign::NonFinite));
        // Its GAN drawing only "1"s.
        let ones = check_metrics(&metrics([0, 950, 50, 0, 0, 0, 0, 0, 0, 0]), 8);
        assert_eq!(ones, Some(Sign::ModeCollapse { coverage: 2, top_digit: 1, top_share: 0.95 }));
    }
}
