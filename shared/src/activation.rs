//! LeakyReLU from `abs` and scalar products, which every backend runs as
//! plain vectorised element-wise kernels. burn's own goes through a
//! comparison mask and `mask_where`: on its CPU backend its forward and
//! backward over a D activation (64x128x16x16) took 36 ms against 12 ms this
//! way (`trainer bench --layers`). burn's ReLU is fast and stays.
//!
//! The values are exactly PyTorch's: with `h = x/2` and `m = |x|/2` (both
//! exact in floating point), `h + m` is `x` or `0` and `h - m` is `0` or `x`.
//! Gradients agree to rounding (1e-6 relative), except at exactly `x = 0`
//! (where `|x|` has gradient 0).

use burn::prelude::*;

/// `x` where positive, else `slope * x`.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    let half = x.clone().mul_scalar(0.5);
    let magnitude = x.abs().mul_scalar(0.5);
    (half.clone() + magnitude.clone()) + (half - magnitude).mul_scalar(slope)
}
