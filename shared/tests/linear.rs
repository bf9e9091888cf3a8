//! The CPU's fused fully connected layer against burn's `Linear`: output and
//! the gradients to the input, weight and bias within 1e-4 of the largest
//! value of each, on the MLP's layer shapes and odd ones; with and without
//! autodiff, and with an input that needs no gradient (D's images).

mod common;

use common::{close, values};
use shared::burn::nn::LinearConfig;
use shared::burn::prelude::*;
use shared::burn::tensor::Distribution;
use shared::linear::linear;

#[test]
fn fused_linear_matches_burns() {
    let device = Device::flex().autodiff();
    device.seed(5);
    for (batch, inputs, outputs) in [(64, 100, 256), (128, 784, 1024), (64, 512, 1), (3, 5, 7), (1, 33, 17)] {
        for input_needs_grad in [true, false] {
            let name = format!("{batch} x {inputs} -> {outputs}, input gradient {input_needs_grad}");
            let layer = LinearConfig::new(inputs, outputs).init(&device);
            let x = Tensor::<2>::random([batch, inputs], Distribution::Normal(0.0, 1.0), &device);
            let x = if input_needs_grad { x.require_grad() } else { x };
            let upstream = Tensor::<2>::random([batch, outputs], Distribution::Normal(0.0, 1.0), &device);
            let (ours, theirs) = (linear(&layer, x.clone()), layer.forward(x.clone()));
            close(&format!("{name}: output"), values(ours.clone().inner()), values(theirs.clone().inner()));
            let no_autodiff = linear(&layer.valid(), x.clone().inner());
            close(&format!("{name}: output without autodiff"), values(no_autodiff), values(theirs.clone().inner()));
            let (grads_ours, grads_theirs) =
                ((ours * upstream.clone()).sum().backward(), (theirs * upstream).sum().backward());
            assert_eq!(x.grad(&grads_ours).is_some(), input_needs_grad, "{name}: an input gradient only if needed");
            if input_needs_grad {
                let grad = |grads| values(x.grad(grads).unwrap());
                close(&format!("{name}: input gradient"), grad(&grads_ours), grad(&grads_theirs));
            }
            let weight = |grads| values(layer.weight.val().grad(grads).unwrap());
            close(&format!("{name}: weight gradient"), weight(&grads_ours), weight(&grads_theirs));
            let bias = |grads| values(layer.bias.as_ref().unwrap().val().grad(grads).unwrap());
            close(&format!("{name}: bias gradient"), bias(&grads_ours), bias(&grads_theirs));
        }
    }
}
