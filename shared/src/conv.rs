//! Convolutions as one matrix product over the whole batch, and the choice
//! of when to use them.
//!
//! The patches of every image go into one matrix, built from pad, slice,
//! reshape and permute, so autodiff, every backend and the wasm build keep
//! working, and one product does the layer. Measured on burn's CPU backend
//! (`trainer bench --layers`), burn 0.22's own kernels (tiled im2col, in
//! parallel over images and tiles) are faster for the post's wide layers,
//! where the extra copies of the patch matrix cost more than its larger
//! product saves; the batched form wins only where the per-image products are
//! tiny: the generator's first block (a 1x1 input: a linear layer),
//! convolutions of a one-channel image (the discriminator's first block,
//! fromRGB) and 1x1 kernels (toRGB). The `forward_*` functions use it there, and burn's kernels
//! everywhere else and on every GPU backend.
//!
//! Both functions take PyTorch's weight layouts, as burn's layers store them:
//! `[out, in, k, k]` for a convolution, `[in, out, k, k]` for a transposed one,
//! and need a square kernel that is a multiple of the stride (the post's 4
//! with stride 1 or 2, and 1x1).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::Slice;
use burn::tensor::ops::PadMode;

/// burn's CPU backend, autodiff or not: where the batched form was measured.
fn on_cpu(device: &Device) -> bool {
    *device == Device::flex()
}

/// Square kernels that are a multiple of the stride, no dilation or groups.
fn batchable(kernel: [usize; 2], stride: [usize; 2], dilation: [usize; 2], groups: usize) -> bool {
    kernel[0] == kernel[1]
        && stride[0] == stride[1]
        && stride[0] > 0
        && kernel[0].is_multiple_of(stride[0])
        && dilation == [1, 1]
        && groups == 1
}

/// `layer.forward(x)`, batched on the CPU for a one-channel input and for a
/// 1x1 kernel (growing's toRGB: one product over every pixel of the batch).
pub fn forward_conv2d(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let padding = match layer.padding {
        PaddingConfig2d::Valid => Some(0),
        PaddingConfig2d::Explicit(top, left, bottom, right) if [left, bottom, right] == [top; 3] => Some(top),
        _ => None,
    };
    match padding {
        Some(padding)
            if layer.bias.is_none()
                && (x.dims()[1] == 1 || layer.kernel_size == [1, 1])
                && batchable(layer.kernel_size, layer.stride, layer.dilation, layer.groups)
                && on_cpu(&x.device()) =>
        {
            conv2d(x, layer.weight.val(), layer.stride[0], padding)
        }
        _ => layer.forward(x),
    }
}

/// `layer.forward(x)`, batched for a 1x1 input on the CPU.
pub fn forward_conv_transpose2d(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let [padding, padding_w] = layer.padding;
    let [_, _, height, width] = x.dims();
    if layer.bias.is_none()
        && (height, width) == (1, 1)
        && padding == padding_w
        && layer.padding_out == [0, 0]
        && batchable(layer.kernel_size, layer.stride, layer.dilation, layer.groups)
        && on_cpu(&x.device())
    {
        conv_transpose2d(x, layer.weight.val(), layer.stride[0], padding)
    } else {
        layer.forward(x)
    }
}

fn whole() -> Slice {
    Slice::new(0, None, 1)
}

fn range(start: usize, len: usize) -> Slice {
    Slice::new(start as isize, Some((start + len) as isize), 1)
}

/// The `q x q` windows (stride 1) of `x: [batch, rows, cols, channels]`
/// starting at each of `out_rows x out_cols` positions, as a matrix
/// `[batch * out_rows * out_cols, q * q * channels]` (window row, window
/// column, channel).
fn windows(x: Tensor<4>, q: usize, out_rows: usize, out_cols: usize) -> Tensor<2> {
    let [batch, _, _, channels] = x.dims();
    let taps = (0..q)
        .flat_map(|dr| (0..q).map(move |dc| (dr, dc)))
        .map(|(dr, dc)| x.clone().slice([whole(), range(dr, out_rows), range(dc, out_cols), whole()]))
        .collect();
    Tensor::cat(taps, 3).reshape([batch * out_rows * out_cols, q * q * channels])
}

/// `conv2d(x, weight)` without bias, as PyTorch's `F.conv2d` with this stride
/// and padding. `x: [batch, in, h, w]`, `weight: [out, in, k, k]`.
///
/// With `k = stride * q`, the padded image is cut into `stride x stride`
/// cells stacked as channels ("space to depth"), which makes the layer a
/// stride-1 convolution with a `q x q` kernel over `stride^2 * in` channels:
/// `q^2` plain slices instead of `k^2` strided ones.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let [out, _, kernel, _] = weight.dims();
    let (s, q) = (stride, kernel / stride);
    let out_h = (height + 2 * padding - kernel) / s + 1;
    let out_w = (width + 2 * padding - kernel) / s + 1;
    // Rows and columns of cells; padding to a whole cell adds nothing read.
    let (cells_h, cells_w) = ((height + 2 * padding).div_ceil(s), (width + 2 * padding).div_ceil(s));
    let x = x.permute([0, 2, 3, 1]).pad(
        [(0, 0), (padding, cells_h * s - height - padding), (padding, cells_w * s - width - padding), (0, 0)],
        PadMode::Constant(0.0),
    );
    let cells: Tensor<6> = x.reshape([batch, cells_h, s, cells_w, s, channels]);
    let cells = cells.permute([0, 1, 3, 2, 4, 5]).reshape([batch, cells_h, cells_w, s * s * channels]);
    let columns = windows(cells, q, out_h, out_w);
    // weight[o, c, s*qr + pr, s*qc + pc] in the columns' order (qr, qc, pr, pc, c).
    let weight: Tensor<6> = weight.reshape([out, channels, q, s, q, s]);
    let weight = weight.permute([2, 4, 3, 5, 1, 0]).reshape([kernel * kernel * channels, out]);
    columns.matmul(weight).reshape([batch, out_h, out_w, out]).permute([0, 3, 1, 2])
}

/// `conv_transpose2d(x, weight)` without bias, as PyTorch's
/// `F.conv_transpose2d` with this stride and padding (no output padding).
/// `x: [batch, in, h, w]`, `weight: [in, out, k, k]`.
///
/// With `k = stride * q`, output pixel `stride * m + r` (before cropping the
/// padding) is the sum over `q x q` input pixels `m - j` of kernel tap
/// `stride * j + r`: every output phase `r` is a stride-1 `q x q`
/// convolution of the input, so one product computes all `stride^2` phases,
/// which are then interleaved.
pub fn conv_transpose2d(x: Tensor<4>, weight: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let [_, out, kernel, _] = weight.dims();
    let (s, q) = (stride, kernel / stride);
    if height == 1 && width == 1 && s == 1 && padding == 0 {
        // A 1x1 input (the generator's first block) is a linear layer.
        let weight = weight.permute([0, 2, 3, 1]).reshape([channels, kernel * kernel * out]);
        let y = x.reshape([batch, channels]).matmul(weight);
        return y.reshape([batch, kernel, kernel, out]).permute([0, 3, 1, 2]);
    }
    let (phase_h, phase_w) = (height + q - 1, width + q - 1);
    let x = x.permute([0, 2, 3, 1]).pad([(0, 0), (q - 1, q - 1), (q - 1, q - 1), (0, 0)], PadMode::Constant(0.0));
    let columns = windows(x, q, phase_h, phase_w);
    // Window offset d reads input m - (q - 1 - d): tap j = q - 1 - d, hence the flip.
    let weight: Tensor<6> = weight.reshape([channels, out, q, s, q, s]);
    let weight = weight.flip([2, 4]).permute([2, 4, 0, 3, 5, 1]).reshape([q * q * channels, s * s * out]);
    let phases: Tensor<6> = columns.matmul(weight).reshape([batch, phase_h, phase_w, s, s, out]);
    let full = phases.permute([0, 1, 3, 2, 4, 5]).reshape([batch, s * phase_h, s * phase_w, out]);
    let (out_h, out_w) = (s * phase_h - 2 * padding, s * phase_w - 2 * padding);
    full.slice([whole(), range(padding, out_h), range(padding, out_w), whole()]).permute([0, 3, 1, 2])
}
