//! The batched convolutions as an operation of burn's CPU backend (`Flex`),
//! through burn's backend extensions, with their own backward pass
//! (`super::autodiff`). Each direction of each layer is one wide matrix
//! product over the whole batch (`crate::cpu::matmul`, multi-threaded) between the
//! moves of `super::lowering`, with `dy` the output's gradient as
//! `[out, positions]`:
//!
//! - forward: weight `[out, patch]` x patches `[patch, positions]`;
//! - input gradient: weight^T x `dy`, then col2im;
//! - weight gradient: `dy` x patches^T.
//!
//! A transposed convolution is a convolution run backwards: its forward is
//! the input gradient of the convolution from its output to its input, with
//! the same weight tensor, and its backward that convolution's forward and
//! weight gradient.

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, TensorMetadata, backend_extension};

use super::lowering::{Geometry, col2im, im2col, swap_outer, transposed_output};
use crate::cpu::{Matrix, matmul, tensor, values};

/// Convolutions without bias, square kernel, stride and padding, dilation 1,
/// one group, as PyTorch's `F.conv2d` / `F.conv_transpose2d`; `f32` only.
#[backend_extension(Flex, Autodiff: cfg(feature = "train"))]
pub trait BatchedConv: Backend {
    /// `x: [batch, in, h, w]`, `weight: [out, in, k, k]`.
    fn batched_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// `x: [batch, in, h, w]`, `weight: [in, out, k, k]`, no output padding.
    fn batched_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

impl BatchedConv for Flex {
    fn batched_conv2d(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        let g = conv2d_geometry(&x, &weight, stride, padding);
        forward(x, weight, &g)
    }

    fn batched_conv_transpose2d(x: FlexTensor, weight: FlexTensor, stride: usize, padding: usize) -> FlexTensor {
        let g = conv_transpose2d_geometry(&x, &weight, stride, padding);
        input_grad(x, weight, &g)
    }
}

/// The geometry of `conv2d(x, weight)`.
pub(super) fn conv2d_geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: usize) -> Geometry {
    let [batch, in_channels, height, width] = dims(x);
    let [out_channels, _, kernel, _] = dims(weight);
    Geometry { batch, in_channels, height, width, out_channels, kernel, stride, padding }
}

/// The geometry of the convolution that `conv_transpose2d(x, weight)` runs
/// backwards: from the transposed one's output to `x`.
pub(super) fn conv_transpose2d_geometry(
    x: &FlexTensor,
    weight: &FlexTensor,
    stride: usize,
    padding: usize,
) -> Geometry {
    let [batch, in_channels, height, width] = dims(x);
    let [_, out_channels, kernel, _] = dims(weight);
    // Built only where the output has a pixel (`forward_conv_transpose2d` checks).
    let side = |size: usize| transposed_output(size, kernel, stride, padding).unwrap_or(0);
    Geometry {
        batch,
        in_channels: out_channels,
        height: side(height),
        width: side(width),
        out_channels: in_channels,
        kernel,
        stride,
        padding,
    }
}

fn dims(t: &FlexTensor) -> [usize; 4] {
    t.shape().dims()
}

/// A map `[batch, channels, h, w]` as the matrix `[channels, batch * h * w]`.
fn channels_outer(x: &FlexTensor) -> Vec<f32> {
    let [batch, channels, height, width] = dims(x);
    swap_outer(&values(x), batch, channels, height * width)
}

/// The patch matrix of `x`, `[patch, positions]`.
pub(super) fn patches(x: &FlexTensor, g: &Geometry) -> FlexTensor {
    tensor(im2col(&values(x), g), [g.patch(), g.positions()])
}

/// `conv2d(x, weight)`: `[batch, out, out_h, out_w]`.
pub(super) fn forward(x: FlexTensor, weight: FlexTensor, g: &Geometry) -> FlexTensor {
    forward_from_patches(patches(&x, g), weight, g)
}

/// `conv2d(x, weight)` from the patch matrix of `x`.
pub(super) fn forward_from_patches(patches: FlexTensor, weight: FlexTensor, g: &Geometry) -> FlexTensor {
    let (weight, patches) = (values(&weight), values(&patches));
    let y = matmul(Matrix::new(&weight, g.out_channels, g.patch()), Matrix::new(&patches, g.patch(), g.positions()));
    let (out_h, out_w) = (g.out_height(), g.out_width());
    tensor(swap_outer(&y, g.out_channels, g.batch, out_h * out_w), [g.batch, g.out_channels, out_h, out_w])
}

/// The gradient of `conv2d(x, weight)` with respect to `x`, given the
/// output's gradient `dy`: `[batch, in, h, w]`.
pub(super) fn input_grad(dy: FlexTensor, weight: FlexTensor, g: &Geometry) -> FlexTensor {
    let (weight, dy) = (values(&weight), channels_outer(&dy));
    let weight = Matrix::new(&weight, g.out_channels, g.patch());
    let patch_grads = matmul(weight.t(), Matrix::new(&dy, g.out_channels, g.positions()));
    tensor(col2im(&patch_grads, g), [g.batch, g.in_channels, g.height, g.width])
}

/// The gradient of `conv2d(x, weight)` with respect to `weight`, given the
/// output's gradient `dy`: `[out, in, k, k]`.
#[cfg(feature = "train")]
pub(super) fn weight_grad(x: FlexTensor, dy: FlexTensor, g: &Geometry) -> FlexTensor {
    weight_grad_from_patches(patches(&x, g), dy, g)
}

/// [`weight_grad`] from the patch matrix of `x`.
#[cfg(feature = "train")]
pub(super) fn weight_grad_from_patches(patches: FlexTensor, dy: FlexTensor, g: &Geometry) -> FlexTensor {
    let (patches, dy) = (values(&patches), channels_outer(&dy));
    let patches = Matrix::new(&patches, g.patch(), g.positions());
    let grad = matmul(Matrix::new(&dy, g.out_channels, g.positions()), patches.t());
    tensor(grad, [g.out_channels, g.in_channels, g.kernel, g.kernel])
}
