//! The batched convolutions against burn's own, on every layer shape the
//! models use: outputs, and gradients to the input and the weights, within
//! 1e-4 of the largest value of each tensor.

mod common;

use common::values;
use shared::burn::prelude::*;
use shared::burn::tensor::Distribution;
use shared::burn::tensor::module::conv_transpose2d as burn_conv_transpose2d;
use shared::burn::tensor::module::conv2d as burn_conv2d;
use shared::burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use shared::conv;

/// One layer: channels in and out, input side, kernel, stride, padding.
struct Layer {
    input: usize,
    output: usize,
    side: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

const fn layer(input: usize, output: usize, side: usize, kernel: usize, stride: usize, padding: usize) -> Layer {
    Layer { input, output, side, kernel, stride, padding }
}

/// The post's generator blocks, and the 1x1 toRGB convolutions of growing.
/// The last two are other shapes the code takes (any kernel a multiple of the stride).
const TRANSPOSED: [Layer; 6] = [
    layer(100, 512, 1, 4, 1, 0),
    layer(512, 256, 4, 4, 2, 1),
    layer(256, 128, 8, 4, 2, 1),
    layer(128, 1, 16, 4, 2, 1),
    layer(256, 1, 8, 1, 1, 0),
    layer(6, 4, 3, 4, 1, 0),
];

/// The post's discriminator blocks, the 1x1 fromRGB and toRGB convolutions
/// of growing, and other shapes.
const CONVOLUTIONS: [Layer; 8] = [
    layer(1, 128, 32, 4, 2, 1),
    layer(128, 256, 16, 4, 2, 1),
    layer(256, 512, 8, 4, 2, 1),
    layer(512, 1, 4, 4, 1, 0),
    layer(1, 256, 8, 1, 1, 0),
    layer(128, 1, 16, 1, 1, 0),
    layer(3, 5, 7, 3, 1, 1),
    layer(2, 3, 7, 4, 2, 1),
];

const BATCH: usize = 3;

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device).require_grad()
}

/// Fails unless the shapes agree and every value of `ours` is within 1e-4 of
/// the largest in `theirs` ([`common::close`]).
fn close_maps(what: &str, ours: Tensor<4>, theirs: Tensor<4>) {
    assert_eq!(ours.dims(), theirs.dims(), "{what}: shapes");
    common::close(what, values(ours), values(theirs));
}

/// Runs `ours` and `theirs` on the same random input and weights and
/// compares outputs and both gradients under the same random output gradient.
fn compare(
    name: &str,
    x: [usize; 4],
    w: [usize; 4],
    ours: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
    theirs: impl Fn(Tensor<4>, Tensor<4>) -> Tensor<4>,
) {
    let device = Device::flex().autodiff();
    device.seed(7);
    let (x, w) = (random(x, &device), random(w, &device));
    let a = ours(x.clone(), w.clone());
    let b = theirs(x.clone(), w.clone());
    let upstream = Tensor::<4>::random(b.dims(), Distribution::Normal(0.0, 1.0), &device);
    let grads_a = (a.clone() * upstream.clone()).sum().backward();
    let grads_b = (b.clone() * upstream).sum().backward();
    close_maps(&format!("{name} output"), a.inner(), b.inner());
    close_maps(&format!("{name} input gradient"), x.grad(&grads_a).unwrap(), x.grad(&grads_b).unwrap());
    close_maps(&format!("{name} weight gradient"), w.grad(&grads_a).unwrap(), w.grad(&grads_b).unwrap());
}

#[test]
fn convolutions_match_burn() {
    for l in CONVOLUTIONS {
        let name = format!("conv {}->{} k{} s{} p{} at {}", l.input, l.output, l.kernel, l.stride, l.padding, l.side);
        compare(
            &name,
            [BATCH, l.input, l.side, l.side],
            [l.output, l.input, l.kernel, l.kernel],
            |x, w| conv::conv2d(x, w, l.stride, l.padding),
            |x, w| burn_conv2d(x, w, None, ConvOptions::new([l.stride; 2], [l.padding; 2], [1, 1], 1)),
        );
    }
}

#[test]
fn transposed_convolutions_match_burn() {
    for l in TRANSPOSED {
        let name = format!("conv^T {}->{} k{} s{} p{} at {}", l.input, l.output, l.kernel, l.stride, l.padding, l.side);
        compare(
            &name,
            [BATCH, l.input, l.side, l.side],
            [l.input, l.output, l.kernel, l.kernel],
            |x, w| conv::conv_transpose2d(x, w, l.stride, l.padding),
            |x, w| {
                let options = ConvTransposeOptions::new([l.stride; 2], [l.padding; 2], [0, 0], [1, 1], 1);
                burn_conv_transpose2d(x, w, None, options)
            },
        );
    }
}
