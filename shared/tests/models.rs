//! Output shapes of both architectures at every depth, and the training step
//! on real MNIST batches (CPU backend).

mod common;

use common::{device, real_batch, values};
use shared::burn::module::Module;
use shared::burn::prelude::*;
use shared::models::{Discriminator, Generator};
use shared::{GanTrainer, InitScheme, ModelConfig, ModelKind, Recipe, latent};

fn z(count: usize, dim: usize, device: &Device) -> Tensor<2> {
    latent::to_tensor(latent::noise(1, count, dim), dim, device)
}

#[test]
fn gan_shapes() {
    let device = device();
    let config = ModelConfig::post(ModelKind::Gan);
    let (g, d) = config.init(InitScheme::Torch, 0, &device);
    let images = g.generate(z(5, 100, &device));
    assert_eq!(images.dims(), [5, 1, 28, 28]);
    let v = values(images.clone());
    assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)), "tanh output leaves [-1, 1]");
    assert_eq!(d.logits(images).dims(), [5, 1]);
    // Parameter count of the post's MLP generator.
    assert_eq!(g.num_params(), 100 * 256 + 256 + 256 * 512 + 512 + 512 * 1024 + 1024 + 1024 * 784 + 784);
    assert_eq!(d.num_params(), 784 * 1024 + 1024 + 1024 * 512 + 512 + 512 + 1);
}

#[test]
fn pggan_shapes_at_every_depth() {
    let device = device();
    let config = ModelConfig::post(ModelKind::Pggan);
    let (Generator::Pggan(g), Discriminator::Pggan(d)) = config.init(InitScheme::Dcgan, 0, &device) else {
        panic!("a pggan config builds pggan models");
    };
    let gen_channels = [512, 256, 128, 1];
    let x = z(3, 100, &device).reshape([3, 100, 1, 1]);
    for (depth, channels) in gen_channels.into_iter().enumerate() {
        let side = 4 << depth;
        assert_eq!(g.forward(x.clone(), depth).dims(), [3, channels, side, side], "G at depth {depth}");
    }
    let disc = [(128, 16), (256, 8), (512, 4), (1, 1)];
    let images = g.forward(x, 3);
    for (depth, (channels, side)) in disc.into_iter().enumerate() {
        assert_eq!(d.forward(images.clone(), depth).dims(), [3, channels, side, side], "D at depth {depth}");
    }
    let (g, d) = (Generator::Pggan(g), Discriminator::Pggan(d));
    let images = g.generate(z(2, 100, &device));
    assert_eq!(images.dims(), [2, 1, 32, 32]);
    assert_eq!(d.logits(images).dims(), [2, 1]);
    // No biases anywhere: conv weights plus BatchNorm scale, shift and the
    // two running statistics (which burn counts among the parameters).
    let expected_g = 100 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 16 + 4 * (512 + 256 + 128);
    assert_eq!(g.num_params(), expected_g);
}

#[test]
fn init_is_seeded_and_schemes_differ() {
    let device = device();
    let config = ModelConfig::post(ModelKind::Gan);
    let first = |scheme, seed| {
        let (Generator::Gan(g), _) = config.init(scheme, seed, &device) else { unreachable!() };
        values(g.layers[0].weight.val())
    };
    let a = first(InitScheme::Torch, 0);
    assert_eq!(a, first(InitScheme::Torch, 0));
    assert_ne!(a, first(InitScheme::Torch, 1));
    // PyTorch's default: U(-1/sqrt(100), 1/sqrt(100)) for Linear(100, 256).
    assert!(a.iter().all(|w| w.abs() <= 0.1));
    assert!(a.iter().any(|w| w.abs() > 0.09));
    // DCGAN: N(0, 0.02).
    let b = first(InitScheme::Dcgan, 0);
    let std = (b.iter().map(|w| w * w).sum::<f32>() / b.len() as f32).sqrt();
    assert!((std - 0.02).abs() < 0.001, "std {std}");
}

fn param_snapshot<M: Module>(m: &M) -> Vec<u8> {
    m.clone().valid().into_record().into_bytes().unwrap().to_vec()
}

#[test]
fn training_steps_give_finite_losses_and_change_the_weights() {
    let device = device();
    for (kind, recipe) in [(ModelKind::Gan, Recipe::stable()), (ModelKind::Pggan, Recipe::post())] {
        let config = ModelConfig::post(kind);
        let mut trainer = GanTrainer::new(&config, recipe, 0, &device);
        let (g0, d0) = (param_snapshot(&trainer.generator), param_snapshot(&trainer.discriminator));
        let real = real_batch(8, config.image_size(), &device);
        for _ in 0..2 {
            let losses = values(trainer.step(real.clone(), z(8, 100, &device)).stacked());
            assert_eq!(losses.len(), 4);
            assert!(losses.iter().all(|v| v.is_finite()), "{kind}: {losses:?}");
            assert!(losses[0] > 0.0 && losses[1] > 0.0, "{kind}: BCE losses are positive: {losses:?}");
            assert!((0.0..=1.0).contains(&losses[2]) && (0.0..=1.0).contains(&losses[3]));
        }
        assert_ne!(g0, param_snapshot(&trainer.generator), "{kind}: G did not change");
        assert_ne!(d0, param_snapshot(&trainer.discriminator), "{kind}: D did not change");
    }
}

#[test]
fn discriminator_loss_falls_on_a_fixed_batch() {
    let device = device();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let config = ModelConfig::post(kind);
        let mut trainer = GanTrainer::new(&config, Recipe::stable(), 0, &device);
        let real = real_batch(16, config.image_size(), &device);
        let noise = z(16, 100, &device);
        let losses: Vec<f32> =
            (0..6).map(|_| values(trainer.discriminator_step(real.clone(), noise.clone()))[0]).collect();
        assert!(losses.iter().all(|l| l.is_finite()));
        assert!(losses[5] < 0.8 * losses[0], "{kind}: D's loss should fall on a fixed batch, got {losses:?}");
    }
}

#[test]
fn the_two_losses_agree_where_sigmoid_does_not_saturate() {
    let device = device();
    let logits = Tensor::<2>::from_data(TensorData::new(vec![-3.0f32, -0.5, 0.0, 0.7, 4.0], [5, 1]), &device);
    let post = Recipe::post();
    let stable = Recipe { real_label: 1.0, ..Recipe::stable() };
    for target in [0.0, 0.9, 1.0] {
        let a = values(post.bce(logits.clone(), target))[0];
        let b = values(stable.bce(logits.clone(), target))[0];
        assert!((a - b).abs() < 1e-5, "target {target}: {a} vs {b}");
    }
    // Where sigmoid rounds to exactly 1 in f32, the post's loss is clamped at
    // 100 (as PyTorch's BCELoss) and the logits loss keeps going.
    let sure = Tensor::<2>::from_data(TensorData::new(vec![40.0f32], [1, 1]), &device);
    assert_eq!(values(post.bce(sure.clone(), 0.0))[0], 100.0);
    assert!((values(stable.bce(sure, 0.0))[0] - 40.0).abs() < 1e-4);
}

#[test]
fn a_saturated_sigmoid_gives_zero_gradient_not_nan() {
    // PyTorch's BCELoss backward divides by max(p (1 - p), 1e-12), so a
    // sigmoid saturated to exactly 0 or 1 passes back 0, never NaN.
    let device = device().autodiff();
    let logits = Tensor::<2>::from_data(TensorData::new(vec![-200.0f32, -40.0, 0.5, 40.0, 200.0], [5, 1]), &device)
        .require_grad();
    for target in [0.0, 1.0] {
        let loss = Recipe::post().bce(logits.clone(), target);
        let grads = loss.backward();
        let grad = values(logits.grad(&grads).unwrap().reshape([5]));
        assert!(grad.iter().all(|g| g.is_finite()), "target {target}: gradient {grad:?}");
        assert_eq!([grad[0], grad[4]], [0.0, 0.0], "target {target}: saturated items must pass back 0");
        assert!(grad[2] != 0.0, "target {target}: an unsaturated item must learn");
    }
}

/// The training step judges real images and fakes as one batch where the
/// discriminator says each image's logit depends on it alone: it must be so
/// for the MLP, and must not be claimed for the conv one (its BatchNorm
/// normalises by the batch in training).
#[test]
fn only_the_mlp_discriminator_judges_each_image_alone() {
    let device = device().autodiff();
    for (kind, side) in [(ModelKind::Gan, 28), (ModelKind::Pggan, 32)] {
        let (g, d) = ModelConfig::post(kind).init(InitScheme::Dcgan, 0, &device);
        let (fakes, reals) = (g.generate(z(3, 100, &device)), real_batch(2, side, &device));
        let apart = [values(d.logits(fakes.clone())), values(d.logits(reals.clone()))].concat();
        let together = values(d.logits(Tensor::cat(vec![fakes, reals], 0)));
        let same = apart.iter().zip(&together).all(|(a, t)| (a - t).abs() <= 1e-5 * (1.0 + a.abs()));
        assert_eq!(same, d.judges_each_image_alone(), "{}", kind.name());
    }
}
