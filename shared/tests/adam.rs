//! The fused Adam against burn's: the same weights after several steps of a
//! small network, and the same state (a checkpoint of one resumes the other).

mod common;

use common::values;
use std::sync::Mutex;

use shared::adam::FusedAdam;
use shared::burn::module::{Module, ModuleVisitor, Param};
use shared::burn::nn::{Linear, LinearConfig};
use shared::burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, Optimizer};
use shared::burn::prelude::*;
use shared::burn::tensor::Distribution;

/// Every weight of a module.
struct Weights(Vec<Vec<f32>>);

impl ModuleVisitor for Weights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(values(param.val()));
    }
}

fn weights(m: &Linear) -> Vec<Vec<f32>> {
    let mut w = Weights(Vec::new());
    m.visit(&mut w);
    w.0
}

/// The tests seed the one CPU device's generator: one at a time.
static SEEDED: Mutex<()> = Mutex::new(());

fn fused() -> ModuleOptimizer {
    ModuleOptimizer::from(FusedAdam::new(0.5, 0.999, 1e-8))
}

fn burns() -> ModuleOptimizer {
    AdamConfig::new().with_beta_1(0.5).with_beta_2(0.999).with_epsilon(1e-8).init()
}

fn start() -> Linear {
    let device = Device::flex().autodiff();
    device.seed(3);
    LinearConfig::new(37, 5).init(&device)
}

/// `steps` Adam steps on the layer's squared output, inputs drawn from `seed`.
fn train(mut layer: Linear, optimizer: &mut ModuleOptimizer, steps: usize, seed: u64) -> Linear {
    let device = Device::flex().autodiff();
    device.seed(seed);
    for _ in 0..steps {
        let x = Tensor::<2>::random([8, 37], Distribution::Normal(0.0, 1.0), &device);
        let loss = layer.forward(x).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        layer = optimizer.step(2e-3, layer, grads);
    }
    layer
}

/// Fails unless the two sets of weights are within `1e-6`.
fn same(ours: &Linear, theirs: &Linear) {
    for (a, b) in weights(ours).iter().zip(&weights(theirs)) {
        let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst <= 1e-6, "fused and burn's Adam differ by {worst}");
    }
}

#[test]
fn fused_adam_steps_as_burns_adam() {
    let _seeded = SEEDED.lock().unwrap();
    let (mut ours, mut theirs) = (fused(), burns());
    let a = train(start(), &mut ours, 5, 1);
    let b = train(start(), &mut theirs, 5, 1);
    same(&a, &b);
    let moved = weights(&a)[0].iter().zip(&weights(&start())[0]).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(moved > 1e-3, "the weights moved by {moved}");
}

#[test]
fn either_resumes_the_others_state() {
    let _seeded = SEEDED.lock().unwrap();
    let mut ours = fused();
    let layer = train(start(), &mut ours, 3, 1);
    let mut theirs = burns().load_record(ours.to_record());
    same(&train(layer.clone(), &mut ours, 2, 2), &train(layer.clone(), &mut theirs, 2, 2));
    let mut back = fused().load_record(theirs.to_record());
    same(&train(layer.clone(), &mut back, 1, 3), &train(layer, &mut theirs, 1, 3));
}

#[test]
fn fused_adam_leaves_shared_tensors_alone() {
    let device = Device::flex();
    let weight = Tensor::<1>::from_floats([1.0, -2.0, 3.0], &device);
    let kept = weight.clone();
    let grad = Tensor::<1>::from_floats([0.5, 0.5, -0.5], &device);
    let (stepped, _) = FusedAdam::new(0.9, 0.999, 1e-8).step(0.1, weight, grad, None);
    assert_eq!(values(kept), vec![1.0, -2.0, 3.0]);
    // A first step moves each weight by the learning rate against its gradient's sign.
    let stepped = values(stepped);
    for (s, e) in stepped.iter().zip([0.9, -2.1, 3.1]) {
        assert!((s - e).abs() < 1e-5, "{stepped:?}");
    }
}
