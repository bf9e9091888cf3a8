//! BatchNorm statistics recomputed for the weights: a generator drawn with
//! them draws what its batch statistics draw, and nothing else changes.

mod common;

use common::{device, values};
use shared::burn::prelude::*;
use shared::recalibrate::recalibrated;
use shared::{InitScheme, ModelConfig, PgganConfig, latent};

fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

#[test]
fn recalibrated_statistics_draw_what_batch_statistics_draw() {
    let device = device();
    let config = ModelConfig::Pggan(PgganConfig { latent_dim: 16, channels: vec![32, 16, 8], ..Default::default() });
    // Fresh running statistics (mean 0, variance 1) are far from the real ones.
    let (generator, _) = config.init(InitScheme::Dcgan, 0, &device);
    let z = || latent::to_tensor(latent::noise(9, 1000, 16), 16, &device);
    let stale = values(generator.generate(z()));
    // Training mode: each batch normalised by its own statistics.
    let autodiff = device.clone().autodiff();
    let batch = values(generator.valid().train().generate(z().to_device(&autodiff)).detach());

    let fresh = values(recalibrated(&generator).generate(z()));
    let (before, after) = (mean_abs_diff(&stale, &batch), mean_abs_diff(&fresh, &batch));
    assert!(after < 0.1 * before && after < 0.01, "|eval - batch|: stale {before}, recalibrated {after}");
    // The generator it was made from keeps its own statistics, and the
    // recalibration is the same every time.
    assert_eq!(values(generator.generate(z())), stale);
    assert_eq!(values(recalibrated(&generator).generate(z())), fresh);
}

#[test]
fn the_mlp_generator_has_no_statistics_to_recompute() {
    let device = device();
    let config = ModelConfig::post(shared::ModelKind::Gan);
    let (generator, _) = config.init(InitScheme::Dcgan, 0, &device);
    let z = || latent::to_tensor(latent::noise(1, 4, 100), 100, &device);
    assert_eq!(values(recalibrated(&generator).generate(z())), values(generator.generate(z())));
}
