//! `bench --layers`: each convolution the conv model runs, timed with burn's
//! kernel and with the batched one of `shared::conv`, forward alone and
//! forward + backward (input and weight gradients), then BatchNorm (burn's
//! and `shared::norm`'s) and the activations, on the CPU backend: the
//! per-operation profile behind the choices in `shared::conv`, `shared::norm`
//! and `shared::activation`.

use std::time::Instant;

use burn::nn::BatchNormConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::leaky_relu as burn_leaky_relu;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use shared::activation::leaky_relu;
use shared::conv;
use shared::norm::batch_norm;

/// A layer: name, transposed?, input shape, weight shape, stride, padding.
type Layer = (&'static str, bool, [usize; 4], [usize; 4], usize, usize);

/// The post's layers at batch `b`.
fn layers(b: usize) -> Vec<Layer> {
    vec![
        ("G1 convT 100->512 1->4", true, [b, 100, 1, 1], [100, 512, 4, 4], 1, 0),
        ("G2 convT 512->256 4->8", true, [b, 512, 4, 4], [512, 256, 4, 4], 2, 1),
        ("G3 convT 256->128 8->16", true, [b, 256, 8, 8], [256, 128, 4, 4], 2, 1),
        ("G4 convT 128->1 16->32", true, [b, 128, 16, 16], [128, 1, 4, 4], 2, 1),
        ("D1 conv 1->128 32->16", false, [b, 1, 32, 32], [128, 1, 4, 4], 2, 1),
        ("D2 conv 128->256 16->8", false, [b, 128, 16, 16], [256, 128, 4, 4], 2, 1),
        ("D3 conv 256->512 8->4", false, [b, 256, 8, 8], [512, 256, 4, 4], 2, 1),
        ("D4 conv 512->1 4->1", false, [b, 512, 4, 4], [1, 512, 4, 4], 1, 0),
        // The 1x1 convolutions that progressive growing adds.
        ("fromRGB conv 1->128 16", false, [b, 1, 16, 16], [128, 1, 1, 1], 1, 0),
        ("toRGB conv 128->1 16", false, [b, 128, 16, 16], [1, 128, 1, 1], 1, 0),
    ]
}

/// Median milliseconds of `f` over `rounds` runs after one warm-up.
fn median_ms(rounds: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

pub fn bench_layers(batch: usize, rounds: usize) {
    let device = Device::flex().autodiff();
    let title = format!("layer (batch {batch})");
    println!("{title:<26} {:>12} {:>12} {:>14} {:>14}", "burn fwd", "ours fwd", "burn fwd+bwd", "ours fwd+bwd");
    let (mut burn_total, mut ours_total) = (0.0, 0.0);
    for (name, transposed, x, w, stride, padding) in layers(batch) {
        let x = Tensor::<4>::random(x, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let w = Tensor::<4>::random(w, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let burn_op = |x: Tensor<4>, w: Tensor<4>| {
            if transposed {
                conv_transpose2d(x, w, None, ConvTransposeOptions::new([stride; 2], [padding; 2], [0; 2], [1; 2], 1))
            } else {
                conv2d(x, w, None, ConvOptions::new([stride; 2], [padding; 2], [1; 2], 1))
            }
        };
        let ours_op = |x: Tensor<4>, w: Tensor<4>| {
            if transposed { conv::conv_transpose2d(x, w, stride, padding) } else { conv::conv2d(x, w, stride, padding) }
        };
        let forward = |op: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>| {
            median_ms(rounds, || {
                std::hint::black_box(op(x.clone().inner(), w.clone().inner()).into_data());
            })
        };
        let both = |op: &dyn Fn(Tensor<4>, Tensor<4>) -> Tensor<4>| {
            median_ms(rounds, || {
                let grads = op(x.clone(), w.clone()).sum().backward();
                std::hint::black_box((x.grad(&grads).unwrap().into_data(), w.grad(&grads).unwrap().into_data()));
            })
        };
        let (bf, of, bb, ob) = (forward(&burn_op), forward(&ours_op), both(&burn_op), both(&ours_op));
        burn_total += bb;
        ours_total += ob;
        println!("{name:<26} {bf:>12.2} {of:>12.2} {bb:>14.2} {ob:>14.2}");
    }
    println!("{:<26} {:>12} {:>12} {burn_total:>14.2} {ours_total:>14.2}", "total", "", "");

    // What runs between the convolutions: BatchNorm (training mode) and the
    // activations, burn's and ours (shared::norm, shared::activation: what the models use).
    println!("\n{:<32} {:>12} {:>14}", "between the convolutions", "fwd", "fwd+bwd");
    let time = |name: &str, shape: [usize; 4], op: &dyn Fn(Tensor<4>) -> Tensor<4>| {
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
        let forward = median_ms(rounds, || {
            std::hint::black_box(op(x.clone()).into_data());
        });
        let both = median_ms(rounds, || {
            let grads = op(x.clone()).sum().backward();
            std::hint::black_box(x.grad(&grads).unwrap().into_data());
        });
        println!("{name:<32} {forward:>12.2} {both:>14.2}");
    };
    let d1 = [batch, 128, 16, 16];
    time("D1 LeakyReLU, burn's", d1, &|x| burn_leaky_relu(x, 0.2));
    time("D1 LeakyReLU, ours", d1, &|x| leaky_relu(x, 0.2));
    for (name, shape) in [
        ("G1 BatchNorm 512x4x4", [batch, 512, 4, 4]),
        ("G2/D2 BatchNorm 256x8x8", [batch, 256, 8, 8]),
        ("G3 BatchNorm 128x16x16", [batch, 128, 16, 16]),
    ] {
        let bn = BatchNormConfig::new(shape[1]).init(&device);
        time(&format!("{name}, burn's"), shape, &|x| bn.forward(x));
        time(&format!("{name}, ours"), shape, &|x| batch_norm(&bn, x));
    }
}
