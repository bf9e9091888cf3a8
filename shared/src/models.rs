//! The two architectures of the post, each rebuilt from a serde config.
//!
//! - **GAN**: the MLP generator and discriminator at 28x28.
//! - **PGGAN**: the post's conv stack at 32x32, four blocks without biases,
//!   BatchNorm, LeakyReLU(0.2), run block by block with `forward(x, depth)`.
//!
//! Discriminators return logits: the post's final `Sigmoid` is applied by the
//! loss (see [`crate::train::LossKind`]), which keeps one model for both the
//! post's `BCELoss` and the numerically stable BCE-with-logits.

use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, Linear};
use burn::prelude::*;
use burn::tensor::activation::{relu, tanh};
use serde::{Deserialize, Serialize};

use crate::activation::leaky_relu;
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
}

impl Default for PgganConfig {
    fn default() -> Self {
        Self { latent_dim: 100, channels: vec![512, 256, 128] }
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
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Gan => "gan",
            ModelKind::Pggan => "pggan",
        }
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
                convs(&g) + convs(&d) + batch_norms
            }
        }
    }

    /// A fresh generator and discriminator, weights drawn from `seed`.
    pub fn init(&self, scheme: InitScheme, seed: u64, device: &Device) -> (Generator, Discriminator) {
        let mut init = LayerInit::new(scheme, seed, device);
        match self {
            ModelConfig::Gan(c) => (
                Generator::Gan(GanGenerator::new(c, &mut init)),
                Discriminator::Gan(GanDiscriminator::new(c, &mut init)),
            ),
            ModelConfig::Pggan(c) => (
                Generator::Pggan(PgGenerator::new(c, &mut init)),
                Discriminator::Pggan(PgDiscriminator::new(c, &mut init)),
            ),
        }
    }

    /// A generator alone (e.g. to load weights into).
    pub fn init_generator(&self, device: &Device) -> Generator {
        let mut init = LayerInit::new(InitScheme::Torch, 0, device);
        match self {
            ModelConfig::Gan(c) => Generator::Gan(GanGenerator::new(c, &mut init)),
            ModelConfig::Pggan(c) => Generator::Pggan(PgGenerator::new(c, &mut init)),
        }
    }

    /// A discriminator alone (e.g. to load weights into).
    pub fn init_discriminator(&self, device: &Device) -> Discriminator {
        let mut init = LayerInit::new(InitScheme::Torch, 0, device);
        match self {
            ModelConfig::Gan(c) => Discriminator::Gan(GanDiscriminator::new(c, &mut init)),
            ModelConfig::Pggan(c) => Discriminator::Pggan(PgDiscriminator::new(c, &mut init)),
        }
    }
}

// ------------------------------------------------------------------ MLP GAN

/// `Linear(100,256) ReLU Linear(256,512) ReLU Linear(512,1024) ReLU Linear(1024,784) Tanh`.
#[derive(Module, Debug)]
pub struct GanGenerator {
    pub layers: Vec<Linear>,
    pub image_size: usize,
}

impl GanGenerator {
    fn new(c: &GanConfig, init: &mut LayerInit) -> Self {
        let mut widths = vec![c.latent_dim];
        widths.extend(&c.generator_hidden);
        widths.push(c.image_size * c.image_size);
        let layers = widths.windows(2).map(|w| init.linear(w[0], w[1])).collect();
        Self { layers, image_size: c.image_size }
    }

    /// `z: [batch, latent]` to images `[batch, 1, 28, 28]` in `[-1, 1]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let last = self.layers.len() - 1;
        let mut x = z;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            x = if i < last { relu(x) } else { tanh(x) };
        }
        let batch = x.dims()[0];
        x.reshape([batch, 1, self.image_size, self.image_size])
    }
}

/// `Flatten Linear(784,1024) LeakyReLU Linear(1024,512) LeakyReLU Linear(512,1)`.
#[derive(Module, Debug)]
pub struct GanDiscriminator {
    pub layers: Vec<Linear>,
}

impl GanDiscriminator {
    fn new(c: &GanConfig, init: &mut LayerInit) -> Self {
        let mut widths = vec![c.image_size * c.image_size];
        widths.extend(&c.discriminator_hidden);
        widths.push(1);
        let layers = widths.windows(2).map(|w| init.linear(w[0], w[1])).collect();
        Self { layers }
    }

    /// Images `[batch, 1, 28, 28]` to logits `[batch, 1]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = images.flatten(1, 3);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i < last {
                x = leaky_relu(x, LEAKY_SLOPE);
            }
        }
        x
    }
}

// ------------------------------------------------------------- conv "PGGAN"

/// One generator block: `ConvTranspose2d` then BatchNorm + ReLU, or Tanh for
/// the last block (which has no BatchNorm).
#[derive(Module, Debug)]
pub struct GenBlock {
    pub conv: ConvTranspose2d,
    pub bn: Option<BatchNorm>,
}

impl GenBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = crate::conv::forward_conv_transpose2d(&self.conv, x);
        match &self.bn {
            Some(bn) => relu(bn.forward(x)),
            None => tanh(x),
        }
    }
}

/// `ConvT(100,512,4,1,0)` (1->4), `ConvT(512,256,4,2,1)` (->8),
/// `ConvT(256,128,4,2,1)` (->16), `ConvT(128,1,4,2,1)+Tanh` (->32).
#[derive(Module, Debug)]
pub struct PgGenerator {
    pub layers: Vec<GenBlock>,
}

impl PgGenerator {
    fn new(c: &PgganConfig, init: &mut LayerInit) -> Self {
        let mut channels = vec![c.latent_dim];
        channels.extend(&c.channels);
        channels.push(1);
        let last = channels.len() - 2;
        let layers = channels
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let (stride, padding) = if i == 0 { (1, 0) } else { (2, 1) };
                let conv = init.conv_transpose2d(w[0], w[1], 4, stride, padding);
                let bn = (i < last).then(|| init.batch_norm(w[1]));
                GenBlock { conv, bn }
            })
            .collect();
        Self { layers }
    }

    pub fn full_depth(&self) -> usize {
        self.layers.len() - 1
    }

    /// Runs blocks `0..=depth` on `x: [batch, latent, 1, 1]`, as the post's
    /// `forward(x, depth)`: at full depth the result is `[batch, 1, 32, 32]`
    /// in `[-1, 1]`; below it, the activations of block `depth`.
    pub fn forward(&self, x: Tensor<4>, depth: usize) -> Tensor<4> {
        assert!(depth <= self.full_depth(), "depth {depth} beyond the generator's {} blocks", self.layers.len());
        self.layers[..=depth].iter().fold(x, |x, block| block.forward(x))
    }
}

/// One discriminator block: `Conv2d` then BatchNorm + LeakyReLU(0.2); the last
/// block is the bare `Conv2d` (its Sigmoid lives in the loss).
#[derive(Module, Debug)]
pub struct DiscBlock {
    pub conv: Conv2d,
    pub bn: Option<BatchNorm>,
}

impl DiscBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = crate::conv::forward_conv2d(&self.conv, x);
        match &self.bn {
            Some(bn) => leaky_relu(bn.forward(x), LEAKY_SLOPE),
            None => x,
        }
    }
}

/// `Conv(1,128,4,2,1)` (32->16), `Conv(128,256,4,2,1)` (->8),
/// `Conv(256,512,4,2,1)` (->4), `Conv(512,1,4,1,0)` (->1).
#[derive(Module, Debug)]
pub struct PgDiscriminator {
    pub layers: Vec<DiscBlock>,
}

impl PgDiscriminator {
    fn new(c: &PgganConfig, init: &mut LayerInit) -> Self {
        let mut channels = vec![1];
        channels.extend(c.channels.iter().rev());
        channels.push(1);
        let last = channels.len() - 2;
        let layers = channels
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let (stride, padding) = if i == last { (1, 0) } else { (2, 1) };
                let conv = init.conv2d(w[0], w[1], 4, stride, padding);
                let bn = (i < last).then(|| init.batch_norm(w[1]));
                DiscBlock { conv, bn }
            })
            .collect();
        Self { layers }
    }

    pub fn full_depth(&self) -> usize {
        self.layers.len() - 1
    }

    /// Runs blocks `0..=depth` on images, as the post's `forward(x, depth)`:
    /// at full depth, 32x32 images give logits `[batch, 1, 1, 1]`.
    pub fn forward(&self, x: Tensor<4>, depth: usize) -> Tensor<4> {
        assert!(depth <= self.full_depth(), "depth {depth} beyond the discriminator's {} blocks", self.layers.len());
        self.layers[..=depth].iter().fold(x, |x, block| block.forward(x))
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
    /// in `[-1, 1]`.
    pub fn generate(&self, z: Tensor<2>) -> Tensor<4> {
        match self {
            Generator::Gan(g) => g.forward(z),
            Generator::Pggan(g) => {
                let [batch, latent] = z.dims();
                g.forward(z.reshape([batch, latent, 1, 1]), g.full_depth())
            }
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

    /// Full-size images to one logit per image, `[batch, 1]`.
    pub fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Discriminator::Gan(d) => d.forward(images),
            Discriminator::Pggan(d) => {
                let batch = images.dims()[0];
                d.forward(images, d.full_depth()).reshape([batch, 1])
            }
        }
    }
}
