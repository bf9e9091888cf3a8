//! `bench`: median milliseconds per training step of each model, warm-up
//! excluded. A step is what `train` does per batch: slice the batch on the
//! device, draw noise, one D and one G update, and wait for the result.

use std::time::Instant;

use clap::Args;
use shared::epochs::Epochs;
use shared::latent::{self, stream};
use shared::mnist::Split;
use shared::{GanTrainer, ModelConfig, ModelKind, Recipe, train};

use crate::backend::{self, Backend};
use crate::{DataArgs, ModelArg, data, whole};

mod layers;

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Models to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [ModelArg::Gan, ModelArg::Pggan])]
    pub models: Vec<ModelArg>,
    /// Timed steps of the GAN [default: 100]; the conv model gets a fifth of them.
    #[arg(long, default_value_t = 100, value_parser = whole::<1, 100_000>)]
    pub steps: usize,
    /// Untimed steps first (shader compilation, allocator warm-up).
    #[arg(long, default_value_t = 10, value_parser = whole::<0, 10_000>)]
    pub warmup: usize,
    /// Images per batch (2 to 4096).
    #[arg(long, default_value_t = 64, value_parser = whole::<2, 4096>)]
    pub batch_size: usize,
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Time each convolution of the conv model instead (CPU backend): burn's
    /// kernel against the batched one, forward and forward + backward.
    #[arg(long)]
    pub layers: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

pub fn bench(args: BenchArgs) -> anyhow::Result<()> {
    if args.layers {
        layers::bench_layers(args.batch_size, args.steps.clamp(3, 20));
        return Ok(());
    }
    let selected = backend::select(args.backend)?;
    let device = selected.device;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all cores".into());
    println!("device: {} (CPU threads: {threads}), batch {}", selected.description, args.batch_size);
    let dataset = data::load(&data::data_dir(&args.data), Split::Train)?;
    for model in &args.models {
        let kind: ModelKind = (*model).into();
        let steps = match kind {
            ModelKind::Gan => args.steps,
            ModelKind::Pggan => args.steps.div_ceil(5),
        };
        let warmup = match kind {
            ModelKind::Gan => args.warmup,
            ModelKind::Pggan => args.warmup.div_ceil(3),
        };
        let config = ModelConfig::post(kind);
        let images = dataset.images.at_side(config.image_size());
        let mut trainer = GanTrainer::new(&config, Recipe::stable(), 0, &device);
        let mut rng = latent::rng(0, stream::TRAIN_NOISE);
        let mut epochs = Epochs::new(0, dataset.images.count, args.batch_size, 0, 0);
        let dim = config.latent_dim();
        let mut times = Vec::with_capacity(steps);
        for i in 0..warmup + steps {
            let start = Instant::now();
            let (real, z) = train::batch(&images, epochs.next_batch(), &mut rng, dim, &device);
            let losses = trainer.step(real, z).stacked();
            // Reading the losses waits for the step to finish on any device.
            let values = losses.into_data();
            if i >= warmup {
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            std::hint::black_box(values);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let (min, max) = (times[0], times[times.len() - 1]);
        println!(
            "{kind:>5}: median {median:8.2} ms/step  (min {min:.2}, max {max:.2}; {} timed steps after {warmup} warm-up)",
            times.len()
        );
    }
    Ok(())
}
