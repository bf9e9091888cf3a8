//! The rectifiers the models use, ReLU and LeakyReLU, as one family: `x`
//! where positive, else `slope * x` (slope 0 for ReLU).
//!
//! On burn's CPU backend LeakyReLU is one pass forward and one backward
//! ([`FusedLeakyRelu`]), and a rectifier after a training BatchNorm is
//! folded into it (`crate::norm::batch_norm_then`). Elsewhere LeakyReLU is
//! built from `abs` and scalar products, which every backend runs as plain
//! element-wise kernels: burn's own goes through a comparison mask and
//! `mask_where` (its forward and backward over a D activation, 64x128x16x16,
//! took 36 ms on the CPU against 12 ms this way and 3.6 fused; `trainer bench
//! --layers`). The values are exactly PyTorch's: with `h = x/2` and `m =
//! |x|/2` (both exact in floating point), `h + m` is `x` or `0` and `h - m`
//! is `0` or `x`. Gradients agree to rounding, except at exactly `x = 0`.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::activation::relu;
use multiversion::multiversion;

use crate::cpu::{tensor, values};

/// A rectifier.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rectifier {
    Relu,
    /// LeakyReLU with this slope for negative inputs.
    Leaky(f64),
}

impl Rectifier {
    /// The slope for negative inputs: 0 for ReLU.
    pub fn negative_slope(self) -> f64 {
        match self {
            Rectifier::Relu => 0.0,
            Rectifier::Leaky(slope) => slope,
        }
    }

    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Rectifier::Relu => relu(x),
            Rectifier::Leaky(slope) => leaky_relu(x, slope),
        }
    }
}

/// `x` where positive, else `slope * x`.
pub fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    if x.device() == Device::flex() && x.dtype() == burn::tensor::DType::F32 {
        return Tensor::from_dispatch(<Dispatch as FusedLeakyRelu>::fused_leaky_relu(x.into_dispatch(), slope as f32));
    }
    let half = x.clone().mul_scalar(0.5);
    let magnitude = x.abs().mul_scalar(0.5);
    (half.clone() + magnitude.clone()) + (half - magnitude).mul_scalar(slope)
}

/// LeakyReLU in one pass over `f32` values, on burn's CPU backend.
#[backend_extension(Flex, Autodiff: cfg(feature = "train"))]
pub trait FusedLeakyRelu: Backend {
    fn fused_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;
}

impl FusedLeakyRelu for Flex {
    fn fused_leaky_relu(x: FlexTensor, slope: f32) -> FlexTensor {
        let y = rectified(&values(&x), slope);
        tensor(y, x.shape())
    }
}

/// Each value rectified with `slope`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn rectified(x: &[f32], slope: f32) -> Vec<f32> {
    x.iter().map(|&x| rectify(x, slope)).collect()
}

/// `x` where positive, else `slope * x`.
#[inline(always)]
pub(crate) fn rectify(x: f32, slope: f32) -> f32 {
    if x > 0.0 { x } else { x * slope }
}

/// The gradient through a rectifier with `slope` to its input, from the
/// gradient `dy` of its output `y` (positive exactly where the input is).
#[cfg(feature = "train")]
#[inline(always)]
pub(crate) fn rectified_grad(dy: f32, y: f32, slope: f32) -> f32 {
    if y > 0.0 { dy } else { dy * slope }
}

#[cfg(feature = "train")]
mod autodiff {
    use burn::backend::Flex;
    use burn::backend::TensorMetadata;
    use burn::backend::autodiff::Autodiff;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use multiversion::multiversion;

    use super::{FusedLeakyRelu, rectified_grad};
    use crate::cpu::{tensor, values};

    #[derive(Debug)]
    struct FusedLeakyReluBackward;

    impl Backward<Flex, 1> for FusedLeakyReluBackward {
        /// The output (its sign is the input's) and the slope.
        type State = (FlexTensor, f32);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [x_node] = ops.parents;
            let dy = grads.consume::<Flex>(&ops.node);
            let (y, slope) = ops.state;
            if let Some(node) = x_node {
                let dx = input_grad(&values(&dy), &values(&y), slope);
                grads.register::<Flex>(node.id, tensor(dx, y.shape()));
            }
        }
    }

    #[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
    fn input_grad(dy: &[f32], y: &[f32], slope: f32) -> Vec<f32> {
        dy.iter().zip(y).map(|(&dy, &y)| rectified_grad(dy, y, slope)).collect()
    }

    impl<C: CheckpointStrategy> FusedLeakyRelu for Autodiff<Flex, C> {
        fn fused_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self> {
            match FusedLeakyReluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let y = Flex::fused_leaky_relu(x.into_primitive(), slope);
                    prep.finish((y.clone(), slope), y)
                }
                OpsKind::UnTracked(prep) => prep.finish(Flex::fused_leaky_relu(x.into_primitive(), slope)),
            }
        }
    }
}
