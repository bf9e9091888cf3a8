//! The GAN training step, one function for every device: D on real images
//! (label 1) and on detached fakes (label 0), then G with its fakes labelled 1,
//! as in the post. The trainer and the in-browser training both call it.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::ema::AveragedGenerator;
use crate::growth::{self, Schedule, Stage};
use crate::init::InitScheme;
use crate::latent;
use crate::mnist::SizedImages;
use crate::models::{Discriminator, Generator, ModelConfig};
use crate::recalibrate::recalibrated;

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
    /// Decay of the generator's moving average ([`AveragedGenerator`]); 0:
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

    fn optimizer(&self) -> ModuleOptimizer {
        // PyTorch's Adam epsilon (burn's default is 1e-5).
        AdamConfig::new().with_beta_1(self.beta1).with_beta_2(self.beta2).with_epsilon(1e-8).init()
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

/// One training batch on `device`: the images `indices` (cut on the host and
/// sent as one small tensor, see [`SizedImages`]) and as many latent vectors
/// drawn from `noise`.
pub fn batch(
    images: &SizedImages,
    indices: &[u32],
    noise: &mut ChaCha8Rng,
    latent_dim: usize,
    device: &Device,
) -> (Tensor<4>, Tensor<2>) {
    let z = latent::to_tensor(latent::draw(noise, indices.len() * latent_dim), latent_dim, device);
    (images.rows(indices, device), z)
}

/// What one step measured, still on the device: read back only when needed.
#[derive(Clone, Debug)]
pub struct StepLosses {
    /// D's loss ([`Recipe::discriminator_loss`]).
    pub d_loss: Tensor<1>,
    /// G's loss ([`Recipe::generator_loss`]).
    pub g_loss: Tensor<1>,
    /// Mean probability D gave the real images (the sigmoid of its logits,
    /// under every loss).
    pub d_real: Tensor<1>,
    /// Mean probability D gave the fakes (before its update).
    pub d_fake: Tensor<1>,
}

impl StepLosses {
    /// The four numbers as one `[4]` tensor, so a batch of steps can be read
    /// back in one transfer: `[d_loss, g_loss, d_real, d_fake]`.
    pub fn stacked(self) -> Tensor<1> {
        Tensor::cat(vec![self.d_loss, self.g_loss, self.d_real, self.d_fake], 0)
    }
}

/// A generator, a discriminator, their Adam optimisers and, if the recipe
/// asks for one, the generator's moving average.
pub struct GanTrainer {
    pub generator: Generator,
    pub discriminator: Discriminator,
    pub average: Option<AveragedGenerator>,
    opt_g: ModuleOptimizer,
    opt_d: ModuleOptimizer,
    pub recipe: Recipe,
}

impl GanTrainer {
    /// Fresh models for `config`, weights drawn from `seed`, on `device` with autodiff.
    /// With a progressive schedule (conv stack only) the models have the
    /// layers of growing and start at the schedule's first stage.
    pub fn new(config: &ModelConfig, recipe: Recipe, seed: u64, device: &Device) -> Self {
        let growing = recipe.grows(config);
        let (generator, discriminator) = recipe.init_models(config, seed, &device.clone().autodiff());
        let mut trainer = Self::from_models(generator, discriminator, recipe);
        if growing {
            trainer.set_images_seen(0);
        }
        trainer
    }

    /// Continues from existing models (e.g. fine-tuning shipped weights) with
    /// fresh optimiser state. The models must live on an autodiff device.
    /// The average, if any, starts at `generator`.
    pub fn from_models(generator: Generator, discriminator: Discriminator, recipe: Recipe) -> Self {
        let average = (recipe.ema_decay > 0.0).then(|| AveragedGenerator::new(&generator, recipe.ema_decay));
        Self { generator, discriminator, average, opt_g: recipe.optimizer(), opt_d: recipe.optimizer(), recipe }
    }

    /// Where growing stands; `None` for models that do not grow.
    pub fn stage(&self) -> Option<Stage> {
        self.generator.stage()
    }

    /// The schedule's stage after `images` training images, for models that grow.
    pub fn scheduled_stage(&self, images: u64) -> Option<Stage> {
        match (&self.generator, self.stage()) {
            (crate::Generator::Pggan(g), Some(_)) => Some(self.recipe.schedule.stage(images, g.full_depth())),
            _ => None,
        }
    }

    /// Moves growing models to the schedule's stage after `images` training
    /// images (nothing for models that do not grow).
    pub fn set_images_seen(&mut self, images: u64) {
        let Some(stage) = self.scheduled_stage(images) else { return };
        if Some(stage) != self.stage() {
            self.generator.set_stage(stage);
            self.discriminator.set_stage(stage);
            if let Some(average) = &mut self.average {
                average.generator.set_stage(stage);
            }
        }
    }

    /// The generator to draw, measure and export: the moving average if the
    /// recipe keeps one, else the generator as trained (without autodiff),
    /// with BatchNorm statistics recomputed for its weights
    /// ([`crate::recalibrate`]).
    pub fn sampler(&self) -> Generator {
        recalibrated(match &self.average {
            Some(average) => &average.generator,
            None => &self.generator,
        })
    }

    /// Both optimisers' state, for a checkpoint.
    pub fn optimizer_records(&self) -> (OptimizerRecord, OptimizerRecord) {
        (self.opt_g.to_record(), self.opt_d.to_record())
    }

    /// Restores the optimisers' state saved with [`Self::optimizer_records`]
    /// for these very models (parameter ids must match, as a module record keeps them).
    pub fn load_optimizer_records(&mut self, g: OptimizerRecord, d: OptimizerRecord) {
        self.opt_g = std::mem::replace(&mut self.opt_g, self.recipe.optimizer()).load_record(g);
        self.opt_d = std::mem::replace(&mut self.opt_d, self.recipe.optimizer()).load_record(d);
    }

    /// Real images as D is shown them: at the stage's resolution when growing.
    fn at_stage(&self, real: Tensor<4>) -> Tensor<4> {
        match self.stage() {
            Some(stage) => growth::real_at(real, stage),
            None => real,
        }
    }

    /// D's loss on a real batch and the fakes from `fake`, and its update.
    fn update_discriminator(&mut self, real: Tensor<4>, fake: Tensor<4>) -> (Tensor<1>, Tensor<2>, Tensor<2>) {
        let real_logits = self.discriminator.logits(real);
        let fake_logits = self.discriminator.logits(fake);
        let d_loss = self.recipe.discriminator_loss(real_logits.clone(), fake_logits.clone());
        let grads = GradientsParams::from_grads(d_loss.backward(), &self.discriminator);
        self.discriminator = self.opt_d.step(self.recipe.lr, self.discriminator.clone(), grads);
        (d_loss, real_logits, fake_logits)
    }

    /// One step of the post's loop on a batch of real images `[b, 1, side, side]`
    /// in `[-1, 1]` and latent vectors `z: [b, latent]`. The G step reuses the
    /// D step's fakes, judged by the updated D, as the post does.
    /// Growing models judge real images at their stage's resolution
    /// ([`growth::real_at`]).
    pub fn step(&mut self, real: Tensor<4>, z: Tensor<2>) -> StepLosses {
        let real = self.at_stage(real);
        let fake = self.generator.generate(z.autodiff());
        let (d_loss, real_logits, fake_logits) = self.update_discriminator(real.autodiff(), fake.clone().detach());

        // D judges G's fakes without tracking its own weights' gradients,
        // which G's update does not use (the post computes and drops them).
        let judge = self.discriminator.clone().no_grad();
        let g_loss = self.recipe.generator_loss(judge.logits(fake));
        let grads = GradientsParams::from_grads(g_loss.backward(), &self.generator);
        self.generator = self.opt_g.step(self.recipe.lr, self.generator.clone(), grads);
        if let Some(average) = &mut self.average {
            average.update(&self.generator);
        }

        StepLosses {
            d_loss: d_loss.detach(),
            g_loss: g_loss.detach(),
            d_real: sigmoid(real_logits.detach()).mean(),
            d_fake: sigmoid(fake_logits.detach()).mean(),
        }
    }

    /// A D-only step (G fixed): returns D's loss before the update.
    pub fn discriminator_step(&mut self, real: Tensor<4>, z: Tensor<2>) -> Tensor<1> {
        let real = self.at_stage(real);
        let fake = self.generator.generate(z.autodiff()).detach();
        self.update_discriminator(real.autodiff(), fake).0.detach()
    }
}
