//! The post's conv "PGGAN" stack at 32x32, and the layers progressive growing
//! adds to it (see [`crate::growth`]).
//!
//! Growing adds, for each depth below the full one, a "toRGB" 1x1
//! convolution from the generator's block to an image (+ Tanh) and a
//! "fromRGB" 1x1 convolution from an image to the discriminator's block
//! (+ LeakyReLU). They live in the checkpoint only: a fully grown network is
//! exactly the post's, and its weights files hold only the post's tensors.
//!
//! The post's `forward(x, depth)` runs D's *first* blocks, which expect
//! 32x32 images and cannot judge a 4x4 one: when growing, D runs its *last*
//! `depth + 1` blocks, the coarse end, behind its fromRGB.

use burn::nn::BatchNorm;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::activation::tanh;

use super::{LEAKY_SLOPE, PgganConfig};
use crate::activation::{Rectifier, leaky_relu};
use crate::aids::{self, gained};
use crate::conv::forward_conv2d;
use crate::growth::{Stage, downsample, upsample};
use crate::init::LayerInit;
use crate::norm::batch_norm_then;

/// One generator block: `ConvTranspose2d` then BatchNorm + ReLU, or Tanh for
/// the last block (which has no BatchNorm).
#[derive(Module, Debug)]
pub struct GenBlock {
    pub conv: ConvTranspose2d,
    pub bn: Option<BatchNorm>,
}

impl GenBlock {
    fn forward(&self, x: Tensor<4>, equalized: bool) -> Tensor<4> {
        let x = crate::conv::forward_conv_transpose2d(&self.conv, x);
        let x = gained(x, equalized, aids::gain_conv_transpose2d(&self.conv));
        match &self.bn {
            Some(bn) => batch_norm_then(bn, x, Rectifier::Relu),
            None => tanh(x),
        }
    }
}

/// `ConvT(100,512,4,1,0)` (1->4), `ConvT(512,256,4,2,1)` (->8),
/// `ConvT(256,128,4,2,1)` (->16), `ConvT(128,1,4,2,1)+Tanh` (->32).
#[derive(Module, Debug)]
pub struct PgGenerator {
    pub layers: Vec<GenBlock>,
    /// Growing only: toRGB of each depth below the full one (empty otherwise).
    pub to_rgb: Vec<Conv2d>,
    /// The resolution it draws at: full depth unless it is growing.
    #[module(skip)]
    pub stage: Stage,
    /// Whether its weights are stored equalised ([`crate::aids`]).
    #[module(skip)]
    pub equalized: bool,
}

impl PgGenerator {
    pub(super) fn new(c: &PgganConfig, init: &mut LayerInit) -> Self {
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
        let stage = Stage::full(last);
        Self { layers, to_rgb: Vec::new(), stage, equalized: false }
    }

    /// Adds the toRGB layers of growing, drawn from `init`.
    fn add_growth(&mut self, c: &PgganConfig, init: &mut LayerInit) {
        self.to_rgb = c.channels.iter().map(|&features| init.conv2d(features, 1, 1, 1, 0)).collect();
    }

    pub fn full_depth(&self) -> usize {
        self.layers.len() - 1
    }

    /// Runs blocks `0..=depth` on `x: [batch, latent, 1, 1]`, as the post's
    /// `forward(x, depth)`: at full depth the result is `[batch, 1, 32, 32]`
    /// in `[-1, 1]`; below it, the activations of block `depth`.
    pub fn forward(&self, x: Tensor<4>, depth: usize) -> Tensor<4> {
        assert!(depth <= self.full_depth(), "depth {depth} beyond the generator's {} blocks", self.layers.len());
        self.layers[..=depth].iter().fold(x, |x, block| block.forward(x, self.equalized))
    }

    /// The image at depth `depth` from block `depth`'s output: the last
    /// block's output is one; below it, toRGB + Tanh makes one.
    fn image(&self, depth: usize, features: Tensor<4>) -> Tensor<4> {
        if depth == self.full_depth() {
            return features;
        }
        let to_rgb = &self.to_rgb[depth];
        tanh(gained(forward_conv2d(to_rgb, features), self.equalized, aids::gain_conv2d(to_rgb)))
    }

    /// Images at the stage's resolution from `x: [batch, latent, 1, 1]`:
    /// while a block fades in, `(1 - alpha)` times the upsampled image of the
    /// depth before plus `alpha` times the new block's.
    pub fn draw(&self, x: Tensor<4>) -> Tensor<4> {
        let Stage { depth, alpha } = self.stage;
        if depth == 0 {
            return self.image(0, self.layers[0].forward(x, self.equalized));
        }
        let before = self.forward(x, depth - 1);
        let new = self.image(depth, self.layers[depth].forward(before.clone(), self.equalized));
        if alpha >= 1.0 {
            return new;
        }
        let old = upsample(self.image(depth - 1, before), 2);
        old.mul_scalar(1.0 - alpha) + new.mul_scalar(alpha)
    }

    /// The width of its latent vectors.
    pub fn latent_dim(&self) -> usize {
        self.layers[0].conv.weight.dims()[0]
    }

    /// Its BatchNorm layers, block by block.
    pub fn batch_norms(&self) -> impl Iterator<Item = &BatchNorm> {
        self.layers.iter().filter_map(|block| block.bn.as_ref())
    }

    pub fn batch_norms_mut(&mut self) -> impl Iterator<Item = &mut BatchNorm> {
        self.layers.iter_mut().filter_map(|block| block.bn.as_mut())
    }

    /// Whether it has the layers to train below full depth.
    pub fn can_grow(&self) -> bool {
        !self.to_rgb.is_empty()
    }

    /// Moves to `stage`, which must be within its depth; below full depth it
    /// needs the layers of growing.
    pub fn set_stage(&mut self, stage: Stage) {
        assert!(stage.depth <= self.full_depth(), "stage beyond the generator's depth");
        assert!(self.can_grow() || stage == Stage::full(self.full_depth()), "a generator without toRGB cannot grow");
        self.stage = stage;
    }

    /// Stores its weights equalised (see [`crate::aids`]): the same function,
    /// learning at an equalised rate.
    pub fn equalize(&mut self) {
        assert!(!self.equalized, "equalised twice");
        for block in &mut self.layers {
            aids::equalize_conv_transpose2d(&mut block.conv);
        }
        self.to_rgb.iter_mut().for_each(aids::equalize_conv2d);
        self.equalized = true;
    }

    /// The post's network alone, without the layers of growing and with any
    /// equalisation folded into its weights, once it has grown to full depth;
    /// `None` while it is still growing.
    pub fn grown(&self) -> Option<Self> {
        if self.stage != Stage::full(self.full_depth()) {
            return None;
        }
        let mut layers = self.layers.clone();
        if self.equalized {
            layers.iter_mut().for_each(|block| aids::fold_conv_transpose2d(&mut block.conv));
        }
        Some(Self { layers, to_rgb: Vec::new(), stage: self.stage, equalized: false })
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
    fn forward(&self, x: Tensor<4>, equalized: bool) -> Tensor<4> {
        let x = crate::conv::forward_conv2d(&self.conv, x);
        let x = gained(x, equalized, aids::gain_conv2d(&self.conv));
        match &self.bn {
            Some(bn) => batch_norm_then(bn, x, Rectifier::Leaky(LEAKY_SLOPE)),
            None => x,
        }
    }
}

/// `Conv(1,128,4,2,1)` (32->16), `Conv(128,256,4,2,1)` (->8),
/// `Conv(256,512,4,2,1)` (->4), `Conv(512,1,4,1,0)` (->1).
#[derive(Module, Debug)]
pub struct PgDiscriminator {
    pub layers: Vec<DiscBlock>,
    /// Growing only: fromRGB of each depth below the full one (empty otherwise).
    pub from_rgb: Vec<Conv2d>,
    /// The resolution it judges at: full depth unless it is growing.
    #[module(skip)]
    pub stage: Stage,
    /// Whether its weights are stored equalised ([`crate::aids`]).
    #[module(skip)]
    pub equalized: bool,
    /// Whether its last block also sees the batch's standard deviation
    /// ([`aids::with_minibatch_stddev`]), in one more input channel.
    #[module(skip)]
    pub minibatch_stddev: bool,
}

impl PgDiscriminator {
    pub(super) fn new(c: &PgganConfig, init: &mut LayerInit) -> Self {
        let mut channels = vec![1];
        channels.extend(c.channels.iter().rev());
        channels.push(1);
        let last = channels.len() - 2;
        let layers = channels
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let (stride, padding) = if i == last { (1, 0) } else { (2, 1) };
                let c_in = if i == last && c.minibatch_stddev { w[0] + 1 } else { w[0] };
                let conv = init.conv2d(c_in, w[1], 4, stride, padding);
                let bn = (i < last).then(|| init.batch_norm(w[1]));
                DiscBlock { conv, bn }
            })
            .collect();
        Self {
            layers,
            from_rgb: Vec::new(),
            stage: Stage::full(last),
            equalized: false,
            minibatch_stddev: c.minibatch_stddev,
        }
    }

    /// Adds the fromRGB layers of growing, drawn from `init`: at depth `d`,
    /// from an image to the input of block `full - d`.
    fn add_growth(&mut self, c: &PgganConfig, init: &mut LayerInit) {
        // Block `full - d` takes `channels[d]` channels (D mirrors G).
        self.from_rgb = c.channels.iter().map(|&features| init.conv2d(1, features, 1, 1, 0)).collect();
    }

    pub fn full_depth(&self) -> usize {
        self.layers.len() - 1
    }

    /// Runs blocks `0..=depth` on images, as the post's `forward(x, depth)`:
    /// at full depth, 32x32 images give logits `[batch, 1, 1, 1]`.
    pub fn forward(&self, x: Tensor<4>, depth: usize) -> Tensor<4> {
        assert!(depth <= self.full_depth(), "depth {depth} beyond the discriminator's {} blocks", self.layers.len());
        (0..=depth).fold(x, |x, i| self.block(i, x))
    }

    /// Block `i` on its input; the last block sees the batch's standard
    /// deviation too, if D has it.
    fn block(&self, i: usize, x: Tensor<4>) -> Tensor<4> {
        let x = if i == self.full_depth() && self.minibatch_stddev { aids::with_minibatch_stddev(x) } else { x };
        self.layers[i].forward(x, self.equalized)
    }

    /// The input of the first block run at depth `depth` from an image of
    /// that depth: the image itself at full depth, else fromRGB + LeakyReLU.
    fn features(&self, depth: usize, image: Tensor<4>) -> Tensor<4> {
        if depth == self.full_depth() {
            return image;
        }
        let from_rgb = &self.from_rgb[depth];
        leaky_relu(gained(forward_conv2d(from_rgb, image), self.equalized, aids::gain_conv2d(from_rgb)), LEAKY_SLOPE)
    }

    /// Logits `[batch, 1, 1, 1]` for images at the stage's resolution or a
    /// multiple of it (average-pooled down to it): the last `depth + 1`
    /// blocks; while a block fades in, its output is blended with fromRGB of
    /// the half-size image, as the generator blends its images.
    pub fn judge(&self, images: Tensor<4>) -> Tensor<4> {
        let Stage { depth, alpha } = self.stage;
        let side = images.dims()[2];
        let x = downsample(images, side / self.stage.side());
        let first = self.full_depth() - depth;
        let mut h = self.block(first, self.features(depth, x.clone()));
        if alpha < 1.0 {
            let old = self.features(depth - 1, downsample(x, 2));
            h = old.mul_scalar(1.0 - alpha) + h.mul_scalar(alpha);
        }
        (first + 1..=self.full_depth()).fold(h, |h, i| self.block(i, h))
    }

    pub fn can_grow(&self) -> bool {
        !self.from_rgb.is_empty()
    }

    /// Moves to `stage` (see [`PgGenerator::set_stage`]).
    pub fn set_stage(&mut self, stage: Stage) {
        assert!(stage.depth <= self.full_depth(), "stage beyond the discriminator's depth");
        assert!(
            self.can_grow() || stage == Stage::full(self.full_depth()),
            "a discriminator without fromRGB cannot grow"
        );
        self.stage = stage;
    }

    /// Stores its weights equalised (see [`PgGenerator::equalize`]).
    pub fn equalize(&mut self) {
        assert!(!self.equalized, "equalised twice");
        for block in &mut self.layers {
            aids::equalize_conv2d(&mut block.conv);
        }
        self.from_rgb.iter_mut().for_each(aids::equalize_conv2d);
        self.equalized = true;
    }

    /// The post's network alone, once grown (see [`PgGenerator::grown`]).
    pub fn grown(&self) -> Option<Self> {
        if self.stage != Stage::full(self.full_depth()) {
            return None;
        }
        let mut layers = self.layers.clone();
        if self.equalized {
            layers.iter_mut().for_each(|block| aids::fold_conv2d(&mut block.conv));
        }
        Some(Self {
            layers,
            from_rgb: Vec::new(),
            stage: self.stage,
            equalized: false,
            minibatch_stddev: self.minibatch_stddev,
        })
    }
}

/// The layers of growing for both networks, drawn from `init` after the
/// networks themselves, so that a growing run starts from the very weights a
/// fixed run of the same seed does.
pub(super) fn add_growth(g: &mut PgGenerator, d: &mut PgDiscriminator, c: &PgganConfig, init: &mut LayerInit) {
    g.add_growth(c, init);
    d.add_growth(c, init);
}
