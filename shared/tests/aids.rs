//! The paper's training aids: minibatch standard deviation, equalised
//! learning rate, and the hinge loss (CPU backend).

mod common;

use common::{device, values};
use shared::aids::{gain_conv_transpose2d, with_minibatch_stddev};
use shared::burn::module::Module;
use shared::burn::prelude::*;
use shared::burn::tensor::Distribution;
use shared::growth::Schedule;
use shared::models::{Discriminator, Generator};
use shared::weights::{self, Precision, Role};
use shared::{GanTrainer, LossKind, ModelConfig, PgganConfig, Recipe, latent};

fn small(minibatch_stddev: bool) -> ModelConfig {
    ModelConfig::Pggan(PgganConfig { latent_dim: 8, channels: vec![16, 8, 4], minibatch_stddev })
}

fn z(count: usize, device: &Device) -> Tensor<2> {
    latent::to_tensor(latent::noise(3, count, 8), 8, device)
}

fn worst(a: Vec<f32>, b: Vec<f32>) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn the_minibatch_stddev_is_the_batch_spread_in_one_more_channel() {
    let device = device();
    // Two images, one channel of 2x2: per pixel the spread of (a, b) is |a - b| / 2.
    let x =
        Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0, 2.0, 1.0, 2.0, 7.0], [2, 1, 2, 2]), &device);
    let out = with_minibatch_stddev(x.clone());
    assert_eq!(out.dims(), [2, 2, 2, 2]);
    let v = values(out);
    // (1 + 0 + 0 + 2) / 4 = 0.75, in the new channel of both images.
    for image in 0..2 {
        assert_eq!(v[image * 8..image * 8 + 4], values(x.clone().narrow(0, image, 1))[..], "the input is kept");
        for s in &v[image * 8 + 4..image * 8 + 8] {
            assert!((s - 0.75).abs() < 1e-4, "{s}");
        }
    }
}

#[test]
fn with_minibatch_stddev_d_judges_each_image_by_its_batch_too() {
    let device = device();
    let (_, d) = small(true).init(shared::InitScheme::Dcgan, 1, &device);
    let Discriminator::Pggan(inner) = &d else { unreachable!() };
    assert_eq!(inner.layers.last().unwrap().conv.weight.dims(), [1, 17, 4, 4], "one more input channel");
    // In inference (running statistics) only the stddev couples the images.
    let d = d.valid();
    let images = Tensor::<4>::random([3, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
    let other = Tensor::cat(vec![images.clone().narrow(0, 0, 2), Tensor::zeros([1, 1, 32, 32], &device)], 0);
    let first = |x: Tensor<4>| values(d.logits(x))[0];
    assert_ne!(first(images.clone()), first(other.clone()), "image 0's verdict depends on image 2");
    let (_, plain) = small(false).init(shared::InitScheme::Dcgan, 1, &device);
    let plain = plain.valid();
    assert_eq!(values(plain.logits(images))[0], values(plain.logits(other))[0], "without it, it does not");

    // Its weights file says so, and a discriminator built from the header loads it.
    let bytes = weights::save_discriminator(&d, &small(true), Precision::F32).unwrap();
    let (loaded, _) = weights::load_discriminator(&bytes, None, &device).unwrap();
    let Discriminator::Pggan(loaded) = loaded else { unreachable!() };
    assert!(loaded.minibatch_stddev);
    assert_eq!(
        weights::torch_tensors(&small(true), Role::Generator),
        weights::torch_tensors(&small(false), Role::Generator)
    );
}

#[test]
fn an_equalised_network_starts_as_the_plain_one_and_exports_plain_weights() {
    let device = device();
    let fixed = Recipe::stable();
    let equalized = Recipe { equalized_lr: true, ..Recipe::stable() };
    for schedule in [Schedule::Fixed, Schedule::Progressive { fade_images: 8, stable_images: 8 }] {
        let (plain_g, plain_d) = Recipe { schedule, ..fixed.clone() }.init_models(&small(true), 5, &device);
        let (eq_g, eq_d) = Recipe { schedule, ..equalized.clone() }.init_models(&small(true), 5, &device);
        let (Generator::Pggan(g), Generator::Pggan(p)) = (&eq_g, &plain_g) else { unreachable!() };
        assert!(g.equalized && !p.equalized);
        // Stored divided by He's constant (the second block: 16 * (4/2)^2 inputs per output).
        let gain = gain_conv_transpose2d(&p.layers[1].conv);
        assert!((gain - (2.0f64 / 64.0).sqrt()).abs() < 1e-12);
        let ratio =
            worst(values(g.layers[1].conv.weight.val().mul_scalar(gain)), values(p.layers[1].conv.weight.val()));
        assert!(ratio < 1e-6, "{ratio}");
        // The same function at every stage.
        let (mut eq_g, mut eq_d, mut plain_g, mut plain_d) =
            (eq_g.valid(), eq_d.valid(), plain_g.valid(), plain_d.valid());
        for images in [0u64, 12, 40] {
            let stage = schedule.stage(images, 3);
            for net in [&mut eq_g, &mut plain_g] {
                net.set_stage(stage);
            }
            for net in [&mut eq_d, &mut plain_d] {
                net.set_stage(stage);
            }
            let (a, b) = (eq_g.generate(z(4, &device)), plain_g.generate(z(4, &device)));
            assert!(worst(values(a.clone()), values(b)) < 1e-5, "{stage}: G");
            let diff = worst(values(eq_d.logits(a.clone())), values(plain_d.logits(a)));
            assert!(diff < 1e-4, "{stage}: D differs by {diff}");
        }
    }
}

#[test]
fn an_equalised_run_trains_and_its_weights_file_holds_the_function_it_learned() {
    let device = device();
    let recipe = Recipe { equalized_lr: true, loss: LossKind::Hinge, real_label: 1.0, ..Recipe::stable() };
    let mut trainer = GanTrainer::new(&small(true), recipe, 2, &device);
    let reals = Tensor::<4>::random([6, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
    let stored = |g: &Generator, d: &Discriminator| match (g, d) {
        (Generator::Pggan(g), Discriminator::Pggan(d)) => {
            (values(g.layers[1].conv.weight.val()), values(d.layers[3].conv.weight.val()))
        }
        _ => unreachable!(),
    };
    let before = stored(&trainer.generator, &trainer.discriminator);
    for _ in 0..3 {
        let losses = values(trainer.step(reals.clone(), z(6, &device)).stacked());
        assert!(losses.iter().all(|v| v.is_finite()), "{losses:?}");
    }
    let after = stored(&trainer.generator, &trainer.discriminator);
    assert!(worst(before.0, after.0) > 1e-4 && worst(before.1, after.1) > 1e-4, "both networks learn");
    let sampler = trainer.sampler();
    let bytes = weights::save_generator(&sampler, &small(true), None, Precision::F32).unwrap();
    let (loaded, _) = weights::load_generator(&bytes, None, &device).unwrap();
    let Generator::Pggan(plain) = &loaded else { unreachable!() };
    assert!(!plain.equalized, "a weights file holds the plain network");
    let diff = worst(values(sampler.generate(z(8, &device))), values(loaded.generate(z(8, &device))));
    assert!(diff < 1e-5, "the file draws what the trained network draws: {diff}");
    let d_bytes = weights::save_discriminator(&trainer.discriminator.valid(), &small(true), Precision::F32).unwrap();
    let (d, _) = weights::load_discriminator(&d_bytes, None, &device).unwrap();
    let images = sampler.generate(z(8, &device));
    let diff = worst(values(d.logits(images.clone())), values(trainer.discriminator.valid().logits(images)));
    assert!(diff < 1e-4, "and D's file judges as D: {diff}");
}

#[test]
fn the_hinge_loss_pushes_scores_past_margins_of_one() {
    let device = device();
    let hinge = Recipe { loss: LossKind::Hinge, ..Recipe::stable() };
    let logits = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v.clone(), [v.len(), 1]), &device);
    // Real: max(0, 1 - 2) = 0 and max(0, 1 - 0.5) = 0.5; fake: max(0, 1 - 2) = 0 and max(0, 1 + 0) = 1.
    let d = values(hinge.discriminator_loss(logits(vec![2.0, 0.5]), logits(vec![-2.0, 0.0])))[0];
    assert!((d - 0.75).abs() < 1e-6, "{d}");
    let g = values(hinge.generator_loss(logits(vec![-2.0, 0.0])))[0];
    assert!((g - 1.0).abs() < 1e-6, "{g}");
    // BCE recipes keep the post's sum of two BCEs.
    let stable = Recipe::stable();
    let (real, fake) = (logits(vec![0.3, -1.0]), logits(vec![0.2, 0.7]));
    let sum = values(stable.bce(real.clone(), 0.9) + stable.bce(fake.clone(), 0.0))[0];
    assert_eq!(values(stable.discriminator_loss(real, fake))[0], sum);
}
