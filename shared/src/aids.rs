//! Two of progressive growing's training aids (Karras et al. 2018, section
//! 3 and 4.1), for the conv stack: the minibatch standard deviation that D
//! sees, and the equalised learning rate. Both are options, off in the post
//! and by default (see the README for what each measured).
//!
//! **Minibatch standard deviation**: before its last block, D gets one more
//! channel holding the batch's spread, the standard deviation of each feature
//! over the batch averaged into one number. A generator that draws too little
//! variety gives its batches a spread no real batch has, and D can tell.
//!
//! **Equalised learning rate**: a convolution stores its weights divided by
//! He's constant `sqrt(2 / fan_in)` and multiplies its output by it. The
//! network computes the same function, but Adam, whose steps have about the
//! same size for every weight, now changes every layer by the same share of
//! its scale. Here a network is equalised from its initial weights, so an
//! equalised run starts from exactly the network an ordinary run does and
//! only learns differently; weights files get the constant folded back in
//! ([`fold_conv2d`]) and hold the post's plain network.

use burn::module::Param;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;

/// Floor of the variance under the square root (the paper's), so that a
/// batch of identical images has a finite gradient.
const VARIANCE_FLOOR: f64 = 1e-8;

/// `x: [batch, channels, h, w]` with one more channel, the same for every
/// image and pixel: the standard deviation over the batch of each feature at
/// each pixel, averaged over features and pixels.
pub fn with_minibatch_stddev(x: Tensor<4>) -> Tensor<4> {
    let [batch, _, height, width] = x.dims();
    let centred = x.clone() - x.clone().mean_dim(0);
    let stddev = centred.powi_scalar(2).mean_dim(0).add_scalar(VARIANCE_FLOOR).sqrt();
    let spread = stddev.mean().reshape([1, 1, 1, 1]).expand([batch, 1, height, width]);
    Tensor::cat(vec![x, spread], 1)
}

/// He's constant of a convolution: `sqrt(2 / fan_in)`, with the weights that
/// sum into one output as its fan-in, `in * k * k`.
pub fn gain_conv2d(layer: &Conv2d) -> f64 {
    let [_, c_in, k, _] = layer.weight.dims();
    he(c_in * k * k)
}

/// He's constant of a transposed convolution: each output sums
/// `in * (k / stride)^2` weights away from the borders (all `in * k * k` on a
/// 1x1 input with stride 1, the generator's first block).
pub fn gain_conv_transpose2d(layer: &ConvTranspose2d) -> f64 {
    let [c_in, _, k, _] = layer.weight.dims();
    let taps = k / layer.stride[0].max(1);
    he(c_in * taps * taps)
}

fn he(fan_in: usize) -> f64 {
    (2.0 / fan_in as f64).sqrt()
}

/// A weight times `factor`, as a fresh parameter: computed off the autodiff
/// graph, then a new leaf on the weight's device.
fn scaled<const D: usize>(weight: &Param<Tensor<D>>, factor: f64) -> Param<Tensor<D>> {
    let weight = weight.val();
    let tracked = weight.is_autodiff();
    let value = weight.inner().mul_scalar(factor);
    Param::from_tensor(if tracked { value.autodiff() } else { value })
}

/// Stores `layer`'s weights divided by its gain: with its output multiplied
/// by the gain, it computes what it computed before.
pub fn equalize_conv2d(layer: &mut Conv2d) {
    layer.weight = scaled(&layer.weight, 1.0 / gain_conv2d(layer));
}

pub fn equalize_conv_transpose2d(layer: &mut ConvTranspose2d) {
    layer.weight = scaled(&layer.weight, 1.0 / gain_conv_transpose2d(layer));
}

/// The inverse of [`equalize_conv2d`]: the gain folded into the weights, for
/// a network that no longer multiplies its outputs (weights files).
pub fn fold_conv2d(layer: &mut Conv2d) {
    layer.weight = scaled(&layer.weight, gain_conv2d(layer));
}

pub fn fold_conv_transpose2d(layer: &mut ConvTranspose2d) {
    layer.weight = scaled(&layer.weight, gain_conv_transpose2d(layer));
}

/// `output` of a layer with gain `gain`, if the network is equalised.
pub fn gained(output: Tensor<4>, equalized: bool, gain: f64) -> Tensor<4> {
    if equalized { output.mul_scalar(gain) } else { output }
}
