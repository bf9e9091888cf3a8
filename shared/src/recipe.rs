//! How a run learns, besides the data and the model: initialisation, loss,
//! labels, optimiser settings, moving average, schedule and training aids.
//! Weights headers record it, so it builds without the `train` feature.

use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use serde::{Deserialize, Serialize};

use crate::growth::Schedule;
use crate::init::InitScheme;
use crate::models::{Discriminator, Generator, ModelConfig};

/// How the binary cross-entropy is computed from the discriminator's logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// The post's `Sigmoid` + `BCELoss`, logs clamped at -100 as PyTorch does:
    /// once D is sure, its sigmoid saturates to exactly 0 or 1 in f32 and the
    /// gradient vanishes.
    SigmoidBce,
    /// BCE computed from logits with `log_sigmoid`: the same loss without the
    /// saturation.
    BceWithLogits,
    /// The hinge loss (Lim & Ye 2017; Miyato et al. 2018), a margin loss in
    /// the spirit of the paper's Wasserstein loss that needs no gradient
    /// penalty (whose second-order gradients burn's autodiff lacks): D pushes
    /// real scores above 1 and fake ones below -1, G raises its fakes'
    /// scores. It has no labels: `real_label` does not apply.
    Hinge,
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SigmoidBce => "sigmoid + BCE",
            Self::BceWithLogits => "BCE on logits",
            Self::Hinge => "hinge",
        })
    }
}

/// Everything that decides how a run learns, besides the data and the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub init: InitScheme,
    pub loss: LossKind,
    /// Target for real images in D's loss (1.0; below 1 is one-sided label smoothing).
    pub real_label: f32,
    pub lr: f64,
    pub beta1: f32,
    pub beta2: f32,
    /// Decay of the generator's moving average (`ema::AveragedGenerator`); 0:
    /// none. Files from before it existed have none.
    #[serde(default)]
    pub ema_decay: f64,
    /// Fixed depth (the post) or progressive growing (conv stack only).
    #[serde(default)]
    pub schedule: Schedule,
    /// The conv stack's weights stored equalised ([`crate::aids`]); files
    /// from before it existed, and recipes without it, leave it out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub equalized_lr: bool,
}

impl Recipe {
    /// The post's recipe, literally: PyTorch default init, Sigmoid + BCELoss,
    /// hard labels, Adam(2e-4, 0.5, 0.999). It collapses on MNIST (see README).
    pub fn post() -> Self {
        Self {
            init: InitScheme::Torch,
            loss: LossKind::SigmoidBce,
            real_label: 1.0,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            ema_decay: 0.0,
            schedule: Schedule::Fixed,
            equalized_lr: false,
        }
    }

    /// The default: the usual DCGAN practice on top of the post's optimiser —
    /// N(0, 0.02) init, BCE on logits, real labels smoothed to 0.9. No
    /// moving average of G by default: over the first 3 epochs of the GAN it
    /// measured a worse FID than G itself (README).
    pub fn stable() -> Self {
        Self { init: InitScheme::Dcgan, loss: LossKind::BceWithLogits, real_label: 0.9, ..Self::post() }
    }

    /// Whether `model` grows under this recipe: a progressive schedule grows
    /// the conv stack; the MLP GAN has nothing to grow.
    pub fn grows(&self, model: &ModelConfig) -> bool {
        self.schedule.is_progressive() && model.kind() == crate::ModelKind::Pggan
    }

    /// Whether `model`'s weights are stored equalised under this recipe (the
    /// conv stack only, as growing).
    pub fn equalizes(&self, model: &ModelConfig) -> bool {
        self.equalized_lr && model.kind() == crate::ModelKind::Pggan
    }

    /// Fresh networks for `model` as this recipe trains them, weights drawn
    /// from `seed`: with the layers of growing if it grows, stored equalised
    /// if it equalises.
    pub fn init_models(&self, model: &ModelConfig, seed: u64, device: &Device) -> (Generator, Discriminator) {
        let (mut generator, mut discriminator) = model.init_growing(self.init, seed, self.grows(model), device);
        if let (true, Generator::Pggan(g), Discriminator::Pggan(d)) =
            (self.equalizes(model), &mut generator, &mut discriminator)
        {
            g.equalize();
            d.equalize();
        }
        (generator, discriminator)
    }

    /// D's loss on its logits for a real and a fake batch: BCE on real
    /// (against the real label) plus BCE on fake, as in the post, or the hinge.
    pub fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        match self.loss {
            LossKind::Hinge => relu(real.neg().add_scalar(1.0)).mean() + relu(fake.add_scalar(1.0)).mean(),
            _ => self.bce(real, self.real_label) + self.bce(fake, 0.0),
        }
    }

    /// G's loss on D's logits for its fakes: BCE against "real", as in the
    /// post, or minus their mean score (hinge).
    pub fn generator_loss(&self, fake: Tensor<2>) -> Tensor<1> {
        match self.loss {
            LossKind::Hinge => fake.mean().neg(),
            _ => self.bce(fake, 1.0),
        }
    }

    /// Mean binary cross-entropy of `logits` against a constant `target`
    /// (the hinge recipe computes it as BCE on logits, for comparison).
    pub fn bce(&self, logits: Tensor<2>, target: f32) -> Tensor<1> {
        let per_item = match self.loss {
            // -(t log s(x) + (1-t) log(1 - s(x))) = (1-t) x - log s(x)
            LossKind::BceWithLogits | LossKind::Hinge => logits.clone().mul_scalar(1.0 - target) - log_sigmoid(logits),
            LossKind::SigmoidBce => {
                let p = sigmoid(logits);
                let not_p = p.clone().neg().add_scalar(1.0);
                -(clamped_log(p).mul_scalar(target) + clamped_log(not_p).mul_scalar(1.0 - target))
            }
        };
        per_item.mean()
    }
}

/// `log(x)` clamped at -100 as PyTorch's `BCELoss` does, with its gradient:
/// zero where `x` is 0 (a naive `log(x).clamp_min(-100)` gives 0 * inf = NaN
/// there, which a saturated sigmoid reaches within an epoch of the post's recipe).
fn clamped_log(x: Tensor<2>) -> Tensor<2> {
    let zero = x.clone().lower_equal_elem(0.0);
    // log(MIN_POSITIVE) = -87.3, so the clamp is only reached at exactly 0.
    x.clamp_min(f32::MIN_POSITIVE).log().mask_fill(zero, -100.0)
}
