//! Our LeakyReLU gives burn's (and PyTorch's) values exactly, and
//! the same gradients to rounding (the slope's share takes two paths).

mod common;

use common::values;
use shared::activation;
use shared::burn::prelude::*;
use shared::burn::tensor::Distribution;
use shared::burn::tensor::activation as burn_activation;

fn compare(name: &str, ours: impl Fn(Tensor<2>) -> Tensor<2>, theirs: impl Fn(Tensor<2>) -> Tensor<2>) {
    let device = Device::flex().autodiff();
    device.seed(3);
    let x = Tensor::<2>::random([64, 300], Distribution::Normal(0.0, 3.0), &device).require_grad();
    let upstream = Tensor::<2>::random([64, 300], Distribution::Normal(0.0, 1.0), &device);
    let (a, b) = (ours(x.clone()), theirs(x.clone()));
    assert_eq!(values(a.clone().inner()), values(b.clone().inner()), "{name}: values");
    // Without autodiff too (drawing).
    assert_eq!(values(ours(x.clone().inner())), values(b.clone().inner()), "{name}: values, no autodiff");
    let grads_a = (a * upstream.clone()).sum().backward();
    let grads_b = (b * upstream).sum().backward();
    let (ga, gb) = (values(x.grad(&grads_a).unwrap()), values(x.grad(&grads_b).unwrap()));
    for (i, (p, q)) in ga.iter().zip(&gb).enumerate() {
        assert!((p - q).abs() <= 1e-6 * q.abs(), "{name}: gradient {i} is {p}, burn's {q}");
    }
}

#[test]
fn leaky_relu_is_burns() {
    compare("leaky_relu", |x| activation::leaky_relu(x, 0.2), |x| burn_activation::leaky_relu(x, 0.2));
}
