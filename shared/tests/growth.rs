//! Progressive growing: the schedule, the resampling, the networks at every
//! stage, and that a fully grown network is exactly the post's (CPU backend).

mod common;

use common::{device, values};
use shared::burn::module::Module;
use shared::burn::prelude::*;
use shared::burn::tensor::Distribution;
use shared::growth::{Schedule, Stage, downsample, real_at, upsample};
use shared::models::{Discriminator, Generator};
use shared::weights::{self, Precision, Role, WeightsError};
use shared::{GanTrainer, InitScheme, ModelConfig, ModelKind, PgganConfig, Recipe, latent};

fn z(count: usize, dim: usize, device: &Device) -> Tensor<2> {
    latent::to_tensor(latent::noise(1, count, dim), dim, device)
}

/// A small conv stack (4 blocks, 32x32 like the post's) for quick tests.
fn small() -> ModelConfig {
    ModelConfig::Pggan(PgganConfig { latent_dim: 8, channels: vec![16, 8, 4], ..Default::default() })
}

/// Fails unless every value of `a` is within `tolerance` of `b`'s.
fn close<const D: usize>(what: &str, a: Tensor<D>, b: Tensor<D>, tolerance: f32) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let worst = values(a).iter().zip(values(b)).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    assert!(worst <= tolerance, "{what}: differs by {worst}");
}

/// Name, shape and bytes of every tensor in a safetensors file, by name.
fn tensors(bytes: &[u8]) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let file = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut all: Vec<_> = file.tensors().into_iter().map(|(n, t)| (n, t.shape().to_vec(), t.data().to_vec())).collect();
    all.sort();
    all
}

#[test]
fn the_schedule_grows_from_4x4_to_full_size() {
    let schedule = Schedule::Progressive { fade_images: 10, stable_images: 20 };
    let at = |images| {
        let s = schedule.stage(images, 3);
        (s.depth, s.alpha)
    };
    assert_eq!(at(0), (0, 1.0));
    assert_eq!(at(19), (0, 1.0));
    assert_eq!(at(20), (1, 0.0), "8x8 starts fading in");
    assert_eq!(at(25), (1, 0.5));
    assert_eq!(at(30), (1, 1.0), "then trains at 8x8");
    assert_eq!(at(49), (1, 1.0));
    assert_eq!(at(50), (2, 0.0));
    assert_eq!(at(80), (3, 0.0), "the full size fades in last");
    assert_eq!(at(89), (3, 0.9));
    assert_eq!(at(90), (3, 1.0));
    assert_eq!(at(u64::MAX), (3, 1.0), "and trains on at full size");
    assert_eq!(schedule.images_to_grow(3), 90);
    assert_eq!(Schedule::Fixed.stage(0, 3), Stage::full(3));
    let no_fade = Schedule::Progressive { fade_images: 0, stable_images: 5 };
    assert_eq!(no_fade.stage(5, 3), Stage { depth: 1, alpha: 1.0 }, "blocks can come in at once");
    assert_eq!(Stage { depth: 1, alpha: 0.25 }.to_string(), "fading in 8x8 (25 %)");
    assert_eq!(Stage::full(3).to_string(), "32x32");
}

#[test]
fn resampling_pools_and_repeats() {
    let device = device();
    let x = Tensor::<4>::from_data(TensorData::new((0..16).map(|v| v as f32).collect(), [1, 1, 4, 4]), &device);
    // Means of the 2x2 squares of 0..16 in rows of 4.
    assert_eq!(values(downsample(x.clone(), 2)), [2.5, 4.5, 10.5, 12.5]);
    let up = upsample(x.clone(), 2);
    assert_eq!(up.dims(), [1, 1, 8, 8]);
    assert_eq!(values(up.clone().slice([0..1, 0..1, 2..4, 4..6])), [6.0; 4], "pixel (1, 2) fills its square");
    assert_eq!(values(downsample(up, 2)), values(x.clone()));
    // Real images: pooled to the stage's side; while fading, blended with
    // their coarser version.
    let images = Tensor::<4>::random([2, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
    let at_8 = real_at(images.clone(), Stage { depth: 1, alpha: 1.0 });
    close("8x8 reals", at_8.clone(), downsample(images.clone(), 4), 1e-6);
    let fading = real_at(images.clone(), Stage { depth: 1, alpha: 0.0 });
    close("fading in, alpha 0", fading, upsample(downsample(images, 8), 2), 1e-6);
}

#[test]
fn growing_starts_from_the_fixed_runs_weights_and_ends_as_the_post() {
    let device = device();
    let config = ModelConfig::post(ModelKind::Pggan);
    let (fixed_g, fixed_d) = config.init(InitScheme::Dcgan, 7, &device);
    let (Generator::Pggan(g), Discriminator::Pggan(d)) = config.init_growing(InitScheme::Dcgan, 7, true, &device)
    else {
        panic!("a pggan config builds pggan models");
    };
    // toRGB from G's blocks below full depth; fromRGB into D's blocks 3, 2, 1.
    let to_rgb: Vec<[usize; 4]> = g.to_rgb.iter().map(|c| c.weight.dims()).collect();
    assert_eq!(to_rgb, [[1, 512, 1, 1], [1, 256, 1, 1], [1, 128, 1, 1]]);
    let from_rgb: Vec<[usize; 4]> = d.from_rgb.iter().map(|c| c.weight.dims()).collect();
    assert_eq!(from_rgb, [[512, 1, 1, 1], [256, 1, 1, 1], [128, 1, 1, 1]]);
    assert!(g.can_grow() && d.can_grow());

    // At full depth the growing networks compute exactly what the fixed ones do.
    let (g, d) = (Generator::Pggan(g), Discriminator::Pggan(d));
    let noise = z(3, 100, &device);
    let images = fixed_g.generate(noise.clone());
    close("G at full depth", g.generate(noise), images.clone(), 0.0);
    close("D at full depth", d.logits(images.clone()), fixed_d.logits(images), 0.0);
    // And a fully grown generator's file is the post's.
    let grown = weights::save_generator(&g, &config, None, Precision::F32).unwrap();
    let fixed = weights::save_generator(&fixed_g, &config, None, Precision::F32).unwrap();
    assert_eq!(tensors(&grown), tensors(&fixed), "a grown generator's file holds exactly the fixed one's tensors");
}

#[test]
fn every_stage_draws_full_size_images_and_fades_in_continuously() {
    let device = device();
    let config = small();
    let (mut g, mut d) = config.init_growing(InitScheme::Dcgan, 3, true, &device);
    let noise = z(4, 8, &device);
    let reals = Tensor::<4>::random([4, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
    let mut before: Option<(Tensor<4>, Tensor<2>)> = None;
    for depth in 0..=3 {
        for alpha in [0.0, 0.5, 1.0] {
            if depth == 0 && alpha < 1.0 {
                continue; // 4x4 never fades in
            }
            let stage = Stage { depth, alpha };
            g.set_stage(stage);
            d.set_stage(stage);
            let images = g.generate(noise.clone());
            assert_eq!(images.dims(), [4, 1, 32, 32], "{stage}");
            assert!(values(images.clone()).iter().all(|v| (-1.0..=1.0).contains(v)), "{stage}: in [-1, 1]");
            // Drawn at the stage's side: squares of 32 / side pixels are flat.
            let block = 32 / stage.side();
            if alpha == 1.0 {
                close(
                    &format!("{stage}: flat squares"),
                    upsample(downsample(images.clone(), block), block),
                    images.clone(),
                    1e-6,
                );
            }
            // D takes full-size images and images at the stage's side alike.
            let logits = d.logits(reals.clone());
            assert_eq!(logits.dims(), [4, 1], "{stage}");
            let at_side = downsample(reals.clone(), block);
            close(&format!("{stage}: D at its side"), d.logits(at_side), logits.clone(), 1e-5);
            if alpha == 0.0 {
                // A block that starts to fade in changes nothing yet.
                let (images_before, logits_before) = before.clone().expect("the stage before");
                close(&format!("{stage}: G continuous"), images.clone(), images_before, 1e-6);
                close(&format!("{stage}: D continuous"), logits.clone(), logits_before, 1e-5);
            }
            if alpha == 1.0 {
                before = Some((images, logits));
            }
        }
    }
}

#[test]
fn a_generator_still_growing_is_not_saved() {
    let device = device();
    let config = small();
    let (mut g, mut d) = config.init_growing(InitScheme::Dcgan, 3, true, &device);
    g.set_stage(Stage { depth: 2, alpha: 0.5 });
    d.set_stage(Stage { depth: 2, alpha: 0.5 });
    let err = weights::save_generator(&g, &config, None, Precision::F32).unwrap_err();
    assert!(matches!(err, WeightsError::StillGrowing(_)), "{err}");
    assert!(err.to_string().contains("fading in 16x16"), "{err}");
    assert!(weights::save_discriminator(&d, &config, Precision::F32).is_err());
    // Grown: the files hold the post's tensors only, and load back.
    g.set_stage(Stage::full(3));
    d.set_stage(Stage::full(3));
    let bytes = weights::save_generator(&g, &config, None, Precision::F32).unwrap();
    let (loaded, info) = weights::load_generator(&bytes, Some(ModelKind::Pggan), &device).unwrap();
    assert_eq!(info.role, Role::Generator);
    assert!(loaded.stage().is_none(), "a loaded generator does not grow");
    close("loaded", loaded.generate(z(2, 8, &device)), g.generate(z(2, 8, &device)), 0.0);
    let bytes = weights::save_discriminator(&d, &config, Precision::F32).unwrap();
    weights::load_discriminator(&bytes, Some(ModelKind::Pggan), &device).unwrap();
}

#[test]
fn a_progressive_trainer_steps_through_every_stage() {
    let device = device();
    let schedule = Schedule::Progressive { fade_images: 8, stable_images: 8 };
    let recipe = Recipe { schedule, ema_decay: 0.9, ..Recipe::stable() };
    let mut trainer = GanTrainer::new(&small(), recipe, 1, &device);
    assert_eq!(trainer.stage(), Some(Stage { depth: 0, alpha: 1.0 }));
    let reals = Tensor::<4>::random([4, 1, 32, 32], Distribution::Uniform(-1.0, 1.0), &device);
    let mut seen = Vec::new();
    for step in 0..14u64 {
        trainer.set_images_seen(step * 4);
        let stage = trainer.stage().unwrap();
        seen.push(stage);
        let losses = values(trainer.step(reals.clone(), z(4, 8, &device)).stacked());
        assert!(losses.iter().all(|v| v.is_finite()), "{stage}: {losses:?}");
        // The average draws at the trained generator's stage.
        assert_eq!(trainer.sampler().stage(), Some(stage));
    }
    assert_eq!(seen[0], Stage { depth: 0, alpha: 1.0 });
    assert_eq!(seen[3], Stage { depth: 1, alpha: 0.5 });
    assert_eq!(seen[12], Stage::full(3));
    // The layers of growing train too: toRGB of 4x4 moved from its init.
    let (start, _) = small().init_growing(InitScheme::Dcgan, 1, true, &device);
    let rgb = |g: &Generator| match g {
        Generator::Pggan(g) => values(g.to_rgb[0].weight.val()),
        Generator::Gan(_) => unreachable!(),
    };
    assert_ne!(rgb(&trainer.generator.valid()), rgb(&start));
    // A model that cannot grow ignores the schedule.
    let gan = GanTrainer::new(&ModelConfig::post(ModelKind::Gan), Recipe { schedule, ..Recipe::stable() }, 1, &device);
    assert_eq!(gan.stage(), None);
}
