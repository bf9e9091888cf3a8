//! The GAN training step, one function for every device: D on real images
//! (label 1) and on detached fakes (label 0), then G with its fakes labelled 1,
//! as in the post. The trainer and the in-browser training both call it.

use burn::optim::{GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand::rngs::ChaCha8Rng;

use crate::adam::FusedAdam;
use crate::ema::AveragedGenerator;
use crate::growth::{self, Stage};
use crate::latent;
use crate::mnist::SizedImages;
use crate::models::{Discriminator, Generator, ModelConfig};
use crate::recalibrate::recalibrated;
use crate::recipe::Recipe;

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
        Self { generator, discriminator, average, opt_g: optimizer(&recipe), opt_d: optimizer(&recipe), recipe }
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
        self.opt_g = std::mem::replace(&mut self.opt_g, optimizer(&self.recipe)).load_record(g);
        self.opt_d = std::mem::replace(&mut self.opt_d, optimizer(&self.recipe)).load_record(d);
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
        let (real_logits, fake_logits) = if self.discriminator.judges_each_image_alone() {
            // One pass over both batches: twice the rows in each matrix
            // product, half the products and operations.
            let batch = real.dims()[0];
            let logits = self.discriminator.logits(Tensor::cat(vec![real, fake], 0));
            (logits.clone().slice(0..batch), logits.slice(batch..))
        } else {
            (self.discriminator.logits(real), self.discriminator.logits(fake))
        };
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

/// Adam as the post sets it up, with PyTorch's epsilon (burn's default is
/// 1e-5), fused on the CPU ([`FusedAdam`]).
fn optimizer(recipe: &Recipe) -> ModuleOptimizer {
    ModuleOptimizer::from(FusedAdam::new(recipe.beta1, recipe.beta2, 1e-8))
}
