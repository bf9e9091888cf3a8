//! The generator's moving average: every weight and BatchNorm statistic
//! moves by the ramped decay, and a training step keeps it.

mod common;

use common::{device, values};
use shared::burn::module::{Module, ModuleVisitor, Param};
use shared::burn::prelude::*;
use shared::ema::AveragedGenerator;
use shared::recalibrate::recalibrated;
use shared::{GanTrainer, InitScheme, ModelConfig, ModelKind, PgganConfig, Recipe, latent};

/// BatchNorm's running mean of the conv generator's first block, for the
/// check that statistics are averaged too.
fn first_running_mean(g: &shared::Generator) -> Vec<f32> {
    match g {
        shared::Generator::Pggan(g) => values(g.layers[0].bn.as_ref().unwrap().running_mean.value()),
        shared::Generator::Gan(_) => Vec::new(),
    }
}

/// Every float tensor of a generator (weights and running statistics).
struct Floats(Vec<Vec<f32>>);

impl ModuleVisitor for Floats {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(values(param.val()));
    }
}

fn floats(g: &shared::Generator) -> Vec<Vec<f32>> {
    let mut f = Floats(Vec::new());
    g.visit(&mut f);
    f.0
}

#[test]
fn the_decay_ramps_up_to_its_setting() {
    let device = device();
    let (g, _) = ModelConfig::post(ModelKind::Gan).init(InitScheme::Torch, 0, &device);
    let mut average = AveragedGenerator::new(&g, 0.999);
    assert_eq!(average.current_decay(), 0.1);
    average.updates = 90;
    assert_eq!(average.current_decay(), 0.91);
    average.updates = 100_000;
    assert_eq!(average.current_decay(), 0.999);
}

#[test]
fn an_update_blends_every_weight_and_statistic() {
    let device = device();
    for kind in [ModelKind::Gan, ModelKind::Pggan] {
        let config = ModelConfig::post(kind);
        let (start, _) = config.init(InitScheme::Torch, 1, &device);
        // One training step, so that BatchNorm's running statistics differ too.
        let mut trained = GanTrainer::new(&config, Recipe { ema_decay: 0.0, ..Recipe::stable() }, 2, &device);
        let side = config.image_size();
        trained.step(common::real_batch(4, side, &device), latent::to_tensor(latent::noise(1, 4, 100), 100, &device));
        let other = trained.generator.valid();
        let mut average = AveragedGenerator::new(&start, 0.999);
        average.update(&other);
        assert_eq!(average.updates, 1);
        let (a, b, blended) = (floats(&start), floats(&other), floats(&average.generator));
        assert_eq!(blended.len(), a.len(), "{kind}: every tensor is averaged");
        if kind == ModelKind::Pggan {
            let (x, y) = (first_running_mean(&start), first_running_mean(&other));
            assert_ne!(x, y, "the trained step moved BatchNorm's statistics");
            let m = first_running_mean(&average.generator);
            assert!(m.iter().zip(&y).all(|(m, y)| (m - 0.9 * y).abs() < 1e-6), "running means are averaged");
        }
        for ((a, b), m) in a.iter().zip(&b).zip(&blended) {
            for ((x, y), z) in a.iter().zip(b).zip(m) {
                let expected = 0.1 * x + 0.9 * y;
                assert!((z - expected).abs() <= 1e-6 * (1.0 + expected.abs()), "{kind}: {z} is not 0.1 {x} + 0.9 {y}");
            }
        }
    }
}

#[test]
fn training_updates_the_average_and_samples_from_it() {
    let device = device();
    // The conv stack (it has BatchNorm), at a tenth of the post's widths.
    let config = ModelConfig::Pggan(PgganConfig { latent_dim: 100, channels: vec![48, 24, 12], ..Default::default() });
    let mut trainer = GanTrainer::new(&config, Recipe { ema_decay: 0.999, ..Recipe::stable() }, 0, &device);
    let before = floats(&trainer.sampler());
    let real = common::real_batch(4, 32, &device);
    trainer.step(real, latent::to_tensor(latent::noise(1, 4, 100), 100, &device));
    let average = trainer.average.as_ref().expect("a recipe with a decay keeps a moving average");
    assert_eq!(average.updates, 1);
    let sampler = floats(&trainer.sampler());
    assert_eq!(sampler, floats(&recalibrated(&average.generator)), "the sampler is the average, recalibrated");
    assert_ne!(sampler, before, "the average moved");
    let none = GanTrainer::new(&config, Recipe::stable(), 0, &device);
    assert!(none.average.is_none(), "none by default");
}
