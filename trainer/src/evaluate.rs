//! `eval`: FID, Inception Score and digit coverage of generator weight files,
//! with the real-data floor; `classifier`: retrains the reference classifier.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use shared::mnist::{SIDE, Split};
use shared::weights;

use crate::backend::{self, Backend};
use crate::metrics::classifier::{self, Classifier};
use crate::metrics::{Evaluator, Metrics};
use crate::{DataArgs, data, files, learning_rate, whole};

/// Real training images the floor is measured on.
const FLOOR_IMAGES: usize = 10_000;

#[derive(Args, Clone, Debug)]
pub struct EvalArgs {
    /// Generator weight files (.safetensors) to measure.
    #[arg(required = true, value_name = "WEIGHTS")]
    pub weights: Vec<PathBuf>,
    /// Samples drawn from each generator (2 to 100,000).
    #[arg(long, default_value_t = 10_000, value_parser = whole::<2, 100_000>)]
    pub samples: usize,
    /// Seed of the samples' latent vectors.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A classifier written by `trainer classifier` [default: the one built in]
    #[arg(long, value_name = "FILE")]
    pub classifier: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Device to run on.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
}

#[derive(Serialize)]
struct Report {
    classifier_test_accuracy: f64,
    floor: Entry,
    /// The floor of each other size the generators draw at: real digits
    /// resized to it, as that generator's training data was.
    resized_floors: Vec<Entry>,
    generators: Vec<Entry>,
}

#[derive(Serialize)]
struct Entry {
    what: String,
    #[serde(flatten)]
    metrics: Metrics,
    coverage: usize,
}

impl Entry {
    fn new(what: String, metrics: Metrics) -> Self {
        Self { what, coverage: metrics.coverage(), metrics }
    }
}

/// The evaluator of the given classifier (or the built-in one), with the test set's statistics.
pub fn evaluator(
    classifier_file: Option<&PathBuf>,
    data: &DataArgs,
    device: &burn::tensor::Device,
) -> anyhow::Result<Evaluator> {
    let classifier = match classifier_file {
        Some(path) => classifier::load(path, device)?,
        None => Classifier::reference(device),
    };
    let dir = data::data_dir(data);
    let test = data::load(&dir, Split::Test).with_context(|| format!("loading MNIST from {}", dir.display()))?;
    Evaluator::new(classifier, &test, device)
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    if args.samples < 2 {
        anyhow::bail!("--samples must be at least 2 (a covariance needs two), got {}", args.samples);
    }
    let device = backend::select(args.backend)?.device;
    let evaluator = evaluator(args.classifier.as_ref(), &args.data, &device)?;
    println!("classifier: {:.2} % right on the 10,000 MNIST test images", evaluator.test_accuracy * 100.0);

    let train = data::load(&data::data_dir(&args.data), Split::Train)?;
    let real = train.images.take(FLOOR_IMAGES);
    let floor =
        Entry::new(format!("floor: {FLOOR_IMAGES} real training images"), evaluator.images(&real.pixels, SIDE)?);
    println!("{}: {}", floor.what, floor.metrics.summary());

    let mut generators = Vec::new();
    let mut resized_floors: Vec<(usize, Entry)> = Vec::new();
    for path in &args.weights {
        let started = Instant::now();
        let bytes = files::read(path)?;
        let (generator, info) = weights::load_generator(&bytes, None, &device)
            .with_context(|| format!("loading generator weights from {}", path.display()))?;
        let side = info.model.image_size();
        if side != SIDE && !resized_floors.iter().any(|(s, _)| *s == side) {
            let resized = real.at_side(side);
            let what = format!("floor: {FLOOR_IMAGES} real training images resized to {side}x{side}");
            let entry = Entry::new(what, evaluator.images(resized.pixels(), side)?);
            println!("{}: {}", entry.what, entry.metrics.summary());
            resized_floors.push((side, entry));
        }
        let metrics = evaluator.generator(&generator, &info.model, args.samples, args.seed)?;
        let trained = info
            .training
            .map(|t| format!(", {} epoch{}, {} init", t.epochs, if t.epochs == 1 { "" } else { "s" }, t.recipe.init))
            .unwrap_or_default();
        println!(
            "{} ({}{trained}): {}  [{:.0} s]",
            path.display(),
            info.model.kind(),
            metrics.summary(),
            started.elapsed().as_secs_f64()
        );
        println!("  digits: {}", shares(&metrics));
        generators.push(Entry::new(path.display().to_string(), metrics));
    }
    if let Some(json) = &args.json {
        let resized_floors = resized_floors.into_iter().map(|(_, entry)| entry).collect();
        let report = Report { classifier_test_accuracy: evaluator.test_accuracy, floor, resized_floors, generators };
        files::write_atomic(json, serde_json::to_string_pretty(&report)?.as_bytes())?;
        println!("wrote {}", json.display());
    }
    Ok(())
}

/// `0: 9.8 %  1: 11.2 % ...`
fn shares(metrics: &Metrics) -> String {
    metrics
        .histogram
        .iter()
        .enumerate()
        .map(|(d, &c)| format!("{d}: {:.1} %", 100.0 * c as f64 / metrics.samples as f64))
        .collect::<Vec<_>>()
        .join("  ")
}

#[derive(Args, Clone, Debug)]
pub struct ClassifierArgs {
    /// Where to write the classifier.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Training steps of 128 images (468 make an epoch).
    #[arg(long, default_value_t = 1404, value_parser = whole::<1, 1_000_000>)]
    pub steps: usize,
    /// Seed of the data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, value_parser = learning_rate)]
    pub lr: f64,
    /// Continue training this classifier instead of a fresh one.
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Device to train on.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
}

pub fn train_classifier(args: ClassifierArgs) -> anyhow::Result<()> {
    let selected = backend::select(args.backend)?;
    println!("device: {}", selected.description);
    let dir = data::data_dir(&args.data);
    let train = data::load(&dir, Split::Train)?;
    let test = data::load(&dir, Split::Test)?;
    let started = Instant::now();
    let start = args.init.as_ref().map(|path| classifier::load(path, &selected.device)).transpose()?;
    let classifier =
        classifier::train(&train, start, args.steps, args.lr, args.seed, &selected.device, |step, loss| {
            println!("step {step:>5}/{}: loss {loss:.4}  ({:.0} s)", args.steps, started.elapsed().as_secs_f64());
        })?;
    let accuracy = classifier::accuracy(&classifier, &test, &selected.device)?;
    println!("test accuracy: {:.2} % of 10,000", accuracy * 100.0);
    files::write_atomic(&args.out, &classifier.to_bytes()?)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
