//! The two architectures of the post, each rebuilt from a serde config.
//!
//! - **GAN**: the MLP generator and discriminator at 28x28.
//! - **PGGAN**: the post's conv stack at 32x32, four blocks without biases,
//!   BatchNorm, LeakyReLU(0.2), run block by block with `forward(x, depth)`,
//!   and the layers that progressive growing adds to it.
//!
//! Discriminators return logits: the post's final `Sigmoid` is applied by the
//! loss (see [`crate::recipe::LossKind`]), which keeps one model for both the
//! post's `BCELoss` and the numerically stable BCE-with-logits.

mod gan;
mod pggan;

pub use gan::{GanDiscriminator, GanGenerator};
pub use pggan::{DiscBlock, GenBlock, PgDiscriminator, PgGenerator};

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::growth::{Stage, upsample};
use crate::init::{InitScheme, LayerInit};

/// The largest sizes a configuration may have: far above the post's, and low
/// enough that a hostile weights header cannot make us allocate without bound.
pub mod limits {
    pub const LATENT_DIM: usize = 4096;
    pub const IMAGE_SIZE: usize = 128;
    /// Hidden layers of an MLP network.
    pub const LAYERS: usize = 8;
    pub const WIDTH: usize = 16_384;
    pub const CHANNELS: usize = 4096;
    /// Blocks of the conv stack: its images are 4 << (blocks - 1) pixels wide.
    pub const PGGAN_BLOCKS: usize = 6;
    /// Both networks together: ten times the post's conv pair, 256 MB in f32.
    pub const PARAMETERS: u64 = 64 << 20;
}

/// Slope of the discriminators' LeakyReLU, as in the post.
const LEAKY_SLOPE: f64 = 0.2;

/// The MLP GAN's sizes. The defaults are the post's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanConfig {
    pub latent_dim: usize,
    /// Widths of the generator's hidden layers; the discriminator mirrors
    /// them without the narrowest (784 -> 1024 -> 512 -> 1 in the post).
    pub generator_hidden: Vec<usize>,
    pub discriminator_hidden: Vec<usize>,
    pub image_size: usize,
}

impl Default for GanConfig {
    fn default() -> Self {
        Self {
            latent_dim: 100,
            generator_hidden: vec![256, 512, 1024],
            discriminator_hidden: vec![1024, 512],
            image_size: 28,
        }
    }
}

/// The conv "PGGAN" stack's sizes. The defaults are the post's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgganConfig {
    pub latent_dim: usize,
    /// Output channels of the generator's blocks before the last, which
    /// outputs the 1-channel image; the discriminator mirrors them.
    pub channels: Vec<usize>,
    /// D's last block also sees the batch's standard deviation, in one more
    /// input channel ([`crate::aids`]); then only G is the post's network.
    /// Absent in files from before it existed, and when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub minibatch_stddev: bool,
}

impl Default for PgganConfig {
    fn default() -> Self {
        Self { latent_dim: 100, channels: vec![512, 256, 128], minibatch_stddev: false }
    }
}

impl PgganConfig {
    /// Number of blocks in each network.
    pub fn num_layers(&self) -> usize {
        self.channels.len() + 1
    }

    /// The depth at which the networks see full-size images.
    pub fn full_depth(&self) -> usize {
        self.num_layers() - 1
    }

    /// Side of the generator's output at `depth` (4, 8, 16, 32 in the post).
    pub fn side_at(&self, depth: usize) -> usize {
        4 << depth
    }
}

/// Which of the two architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Gan,
    Pggan,
}

impl ModelKind {
    pub const ALL: [ModelKind; 2] = [ModelKind::Gan, ModelKind::Pggan];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Gan => "gan",
            ModelKind::Pggan => "pggan",
        }
    }

    /// The model of that [`name`](Self::name), if any.
    pub fn named(name: &str) -> Option<ModelKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A full description of an architecture: enough to rebuild it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "arch", rename_all = "lowercase")]
pub enum ModelConfig {
    Gan(GanConfig),
    Pggan(PgganConfig),
}

impl ModelConfig {
    /// The post's configuration of `kind`.
    pub fn post(kind: ModelKind) -> Self {
        match kind {
            ModelKind::Gan => ModelConfig::Gan(GanConfig::default()),
            ModelKind::Pggan => ModelConfig::Pggan(PgganConfig::default()),
        }
    }

    pub fn kind(&self) -> ModelKind {
        match self {
            ModelConfig::Gan(_) => ModelKind::Gan,
            ModelConfig::Pggan(_) => ModelKind::Pggan,
        }
    }

    pub fn latent_dim(&self) -> usize {
        match self {
            ModelConfig::Gan(c) => c.latent_dim,
            ModelConfig::Pggan(c) => c.latent_dim,
        }
    }

    /// Side of the images the generator draws and the discriminator judges.
    pub fn image_size(&self) -> usize {
        match self {
            ModelConfig::Gan(c) => c.image_size,
            ModelConfig::Pggan(c) => c.side_at(c.full_depth()),
        }
    }

    /// Refuses sizes that cannot build a model, or that are beyond what these
    /// models can sensibly be (see [`limits`]), naming the field. A header
    /// passes this before anything is allocated for its model.
    pub fn validate(&self) -> Result<(), String> {
        let sizes = |name: &str, v: &[usize], max: usize, max_len: usize| {
            if v.is_empty() || v.len() > max_len || v.iter().any(|&x| x == 0 || x > max) {
                let most = if max_len == 1 { String::new() } else { format!(" at most {max_len}") };
                Err(format!("{name} must be{most} sizes from 1 to {max}, got {v:?}"))
            } else {
                Ok(())
            }
        };
        match self {
            ModelConfig::Gan(c) => {
                sizes("latent_dim", &[c.latent_dim], limits::LATENT_DIM, 1)?;
                sizes("image_size", &[c.image_size], limits::IMAGE_SIZE, 1)?;
                sizes("generator_hidden", &c.generator_hidden, limits::WIDTH, limits::LAYERS)?;
                sizes("discriminator_hidden", &c.discriminator_hidden, limits::WIDTH, limits::LAYERS)?;
            }
            ModelConfig::Pggan(c) => {
                sizes("latent_dim", &[c.latent_dim], limits::LATENT_DIM, 1)?;
                sizes("channels", &c.channels, limits::CHANNELS, limits::PGGAN_BLOCKS - 1)?;
            }
        }
        let parameters = self.parameter_count();
        if parameters > limits::PARAMETERS {
            return Err(format!("{parameters} parameters, over the limit of {}", limits::PARAMETERS));
        }
        Ok(())
    }

    /// Weights of the generator and the discriminator together (BatchNorm's
    /// running statistics included).
    /// Counted in u64: within [`limits`] that cannot overflow, even where
    /// `usize` has 32 bits (wasm).
    pub fn parameter_count(&self) -> u64 {
        let u = |sizes: &[usize]| sizes.iter().map(|&x| x as u64).collect::<Vec<u64>>();
        let linear = |widths: &[u64]| widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum::<u64>();
        match self {
            ModelConfig::Gan(c) => {
                let pixels = c.image_size * c.image_size;
                let g = u(&[&[c.latent_dim][..], &c.generator_hidden, &[pixels]].concat());
                let d = u(&[&[pixels][..], &c.discriminator_hidden, &[1]].concat());
                linear(&g) + linear(&d)
            }
            ModelConfig::Pggan(c) => {
                let convs = |chain: &[u64]| chain.windows(2).map(|w| w[0] * w[1] * 16).sum::<u64>();
                let g = u(&[&[c.latent_dim][..], &c.channels, &[1]].concat());
                let reversed: Vec<usize> = c.channels.iter().rev().copied().collect();
                let d = u(&[&[1][..], &reversed, &[1]].concat());
                // Each network has a BatchNorm (4 vectors) per entry of `channels`.
                let batch_norms = 2 * 4 * u(&c.channels).iter().sum::<u64>();
                // The standard deviation's channel into D's last 4x4 conv.
                let stddev = if c.minibatch_stddev { 16 } else { 0 };
                convs(&g) + convs(&d) + batch_norms + stddev
            }
        }
    }

    /// A fresh generator and discriminator, weights drawn from `seed`.
    pub fn init(&self, scheme: InitScheme, seed: u64, device: &Device) -> (Generator, Discriminator) {
        self.init_growing(scheme, seed, false, device)
    }

    /// [`Self::init`], with the layers of progressive growing if `growing`
    /// (the conv stack only; the MLP GAN does not grow).
    pub fn init_growing(
        &self,
        scheme: InitScheme,
        seed: u64,
        growing: bool,
        device: &Device,
    ) -> (Generator, Discriminator) {
        let mut init = LayerInit::new(scheme, seed, device);
        match self {
            ModelConfig::Gan(c) => (
                Generator::Gan(GanGenerator::new(c, &mut init)),
                Discriminator::Gan(GanDiscriminator::new(c, &mut init)),
            ),
            ModelConfig::Pggan(c) => {
                let mut g = PgGenerator::new(c, &mut init);
                let mut d = PgDiscriminator::new(c, &mut init);
                if growing {
                    pggan::add_growth(&mut g, &mut d, c, &mut init);
                }
                (Generator::Pggan(g), Discriminator::Pggan(d))
            }
        }
    }

    /// A generator alone with zero weights, to load weights into.
    pub fn init_generator(&self, device: &Device) -> Generator {
        let mut init = LayerInit::blank(device);
        match self {
            ModelConfig::Gan(c) => Generator::Gan(GanGenerator::new(c, &mut init)),
            ModelConfig::Pggan(c) => Generator::Pggan(PgGenerator::new(c, &mut init)),
        }
    }

    /// A discriminator alone with zero weights, to load weights into.
    pub fn init_discriminator(&self, device: &Device) -> Discriminator {
        let mut init = LayerInit::blank(device);
        match self {
            ModelConfig::Gan(c) => Discriminator::Gan(GanDiscriminator::new(c, &mut init)),
            ModelConfig::Pggan(c) => Discriminator::Pggan(PgDiscriminator::new(c, &mut init)),
        }
    }
}

// ------------------------------------------------------- either architecture

/// The generator of either architecture.
#[derive(Module, Debug)]
pub enum Generator {
    Gan(GanGenerator),
    Pggan(PgGenerator),
}

impl Generator {
    pub fn kind(&self) -> ModelKind {
        match self {
            Generator::Gan(_) => ModelKind::Gan,
            Generator::Pggan(_) => ModelKind::Pggan,
        }
    }

    /// Latent vectors `[batch, latent]` to full-size images `[batch, 1, side, side]`
    /// in `[-1, 1]`. A growing generator draws at its stage's resolution,
    /// upsampled to full size (nearest neighbour).
    pub fn generate(&self, z: Tensor<2>) -> Tensor<4> {
        match self {
            Generator::Gan(g) => g.forward(z),
            Generator::Pggan(g) => {
                let [batch, latent] = z.dims();
                let images = g.draw(z.reshape([batch, latent, 1, 1]));
                upsample(images, 1 << (g.full_depth() - g.stage.depth))
            }
        }
    }

    /// Where it stands in growing; `None` for a network that does not grow.
    pub fn stage(&self) -> Option<Stage> {
        match self {
            Generator::Pggan(g) if g.can_grow() => Some(g.stage),
            _ => None,
        }
    }

    /// Moves a growing generator to `stage` (see [`PgGenerator::set_stage`]).
    pub fn set_stage(&mut self, stage: Stage) {
        if let Generator::Pggan(g) = self {
            g.set_stage(stage);
        }
    }

    /// The network without the layers of growing, as weights files hold it;
    /// `None` while it is still growing.
    pub fn grown(&self) -> Option<Generator> {
        match self {
            Generator::Gan(g) => Some(Generator::Gan(g.clone())),
            Generator::Pggan(g) => g.grown().map(Generator::Pggan),
        }
    }
}

/// The discriminator of either architecture.
#[derive(Module, Debug)]
pub enum Discriminator {
    Gan(GanDiscriminator),
    Pggan(PgDiscriminator),
}

impl Discriminator {
    pub fn kind(&self) -> ModelKind {
        match self {
            Discriminator::Gan(_) => ModelKind::Gan,
            Discriminator::Pggan(_) => ModelKind::Pggan,
        }
    }

    /// Whether an image's logit depends on that image alone. The conv
    /// discriminator's BatchNorm normalises by the batch's statistics, so
    /// there a batch of real images and one of fakes must be judged apart,
    /// as the post does; the MLP's can be judged as one batch, with the same
    /// logits.
    pub fn judges_each_image_alone(&self) -> bool {
        matches!(self, Discriminator::Gan(_))
    }

    /// Full-size images to one logit per image, `[batch, 1]`. A growing
    /// discriminator also takes images at its stage's resolution, and
    /// average-pools larger ones down to it.
    pub fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Discriminator::Gan(d) => d.forward(images),
            Discriminator::Pggan(d) => {
                let batch = images.dims()[0];
                d.judge(images).reshape([batch, 1])
            }
        }
    }

    /// Moves a growing discriminator to `stage`.
    pub fn set_stage(&mut self, stage: Stage) {
        if let Discriminator::Pggan(d) = self {
            d.set_stage(stage);
        }
    }

    /// The network without the layers of growing; `None` while growing.
    pub fn grown(&self) -> Option<Discriminator> {
        match self {
            Discriminator::Gan(d) => Some(Discriminator::Gan(d.clone())),
            Discriminator::Pggan(d) => d.grown().map(Discriminator::Pggan),
        }
    }
}
