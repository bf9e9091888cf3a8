//! Convolutions as one matrix product over the whole batch on burn's CPU
//! backend, and the choice of when to use them.
//!
//! burn 0.22's CPU kernels run a convolution image by image, as products
//! 16 to 256 rows wide (an image's output positions, or a 4x4 kernel's 16
//! taps in the weight gradient), far from what the CPU's matrix kernels
//! reach on wide products. Here every direction of a layer (forward, input
//! gradient, weight gradient) is one product over the whole batch
//! (`lowering`: the patch matrix and its moves; `op`: the operation on burn's
//! CPU backend; `autodiff`: its backward pass). The `forward_*` functions use
//! it on the CPU where it was measured faster (`trainer bench --layers`;
//! README, "Speed"), and burn's own kernels on every GPU backend:
//!
//! - in training (forward and backward) every layer but one with a 1x1
//!   output (D's last), where the batch's product is as narrow as an image's;
//! - in drawing (forward alone) the generator's blocks from inputs up to 4x4
//!   (burn's kernels are faster on its wider maps, 8x8 and up).
//!
//! Both functions take PyTorch's weight layouts, as burn's layers store them:
//! `[out, in, k, k]` for a convolution, `[in, out, k, k]` for a transposed one.

#[cfg(feature = "train")]
mod autodiff;
pub mod lowering;
mod op;

use burn::backend::Dispatch;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::DType;

use lowering::{conv_output, transposed_output};
use op::BatchedConv;

/// burn's CPU backend, autodiff or not, in `f32`: where the batched form runs.
fn on_cpu(x: &Tensor<4>) -> bool {
    x.device() == Device::flex() && x.dtype() == DType::F32
}

/// Whether `x` will be differentiated: the models train on autodiff devices.
fn training(x: &Tensor<4>) -> bool {
    x.device().is_autodiff()
}

/// The largest input side at which drawing uses the batched transposed form.
const DRAWING_SIDE: usize = 4;

/// Square kernels, strides and paddings, no dilation or groups, and a
/// padding smaller than the kernel (what PyTorch's shapes need).
fn batchable(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2], groups: usize) -> bool {
    kernel[0] == kernel[1]
        && stride[0] == stride[1]
        && padding[0] == padding[1]
        && stride[0] > 0
        && padding[0] < kernel[0]
        && dilation == [1, 1]
        && groups == 1
}

/// `layer.forward(x)`, batched on the CPU unless the output is one pixel.
pub fn forward_conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match layer.padding {
        PaddingConfig2d::Valid => Some(0),
        PaddingConfig2d::Explicit(top, left, bottom, right) if [left, bottom, right] == [top; 3] => Some(top),
        _ => None,
    };
    let [_, _, height, width] = x.dims();
    // Output rows and columns; `None` where the kernel does not fit (burn's
    // layer reports it). Called after `batchable`, which checks the stride.
    let out = |side: usize, padding: usize| conv_output(side, layer.kernel_size[0], layer.stride[0], padding);
    match padding {
        Some(padding)
            if layer.bias.is_none()
                && batchable(layer.kernel_size, layer.stride, [padding; 2], layer.dilation, layer.groups)
                && matches!((out(height, padding), out(width, padding)), (Some(h), Some(w)) if h * w > 1)
                && on_cpu(&x) =>
        {
            conv2d(x, layer.weight.val(), layer.stride[0], padding)
        }
        _ => layer.forward(x),
    }
}

/// `layer.forward(x)`, batched on the CPU in training, and in drawing from
/// inputs up to [`DRAWING_SIDE`].
pub fn forward_conv_transpose2d(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    // An output of at least one pixel (burn's layer reports the others).
    let [kernel, stride, padding] = [layer.kernel_size[0], layer.stride[0], layer.padding[0]];
    let fits = |side: usize| transposed_output(side, kernel, stride, padding).is_some();
    if layer.bias.is_none()
        && fits(height)
        && fits(width)
        && (training(&x) || height.max(width) <= DRAWING_SIDE)
        && layer.padding_out == [0, 0]
        && batchable(layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.groups)
        && on_cpu(&x)
    {
        conv_transpose2d(x, layer.weight.val(), stride, padding)
    } else {
        layer.forward(x)
    }
}

/// `conv2d(x, weight)` without bias, as PyTorch's `F.conv2d` with this stride
/// and padding. `x: [batch, in, h, w]`, `weight: [out, in, k, k]`; burn's CPU
/// backend in `f32` only (`forward_conv2d` checks).
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as BatchedConv>::batched_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        padding,
    ))
}

/// `conv_transpose2d(x, weight)` without bias, as PyTorch's
/// `F.conv_transpose2d` with this stride and padding (no output padding).
/// `x: [batch, in, h, w]`, `weight: [in, out, k, k]`; burn's CPU backend in
/// `f32` only (`forward_conv_transpose2d` checks).
pub fn conv_transpose2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as BatchedConv>::batched_conv_transpose2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        stride,
        padding,
    ))
}
