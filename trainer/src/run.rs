//! `train`: the training loop, its progress display and its run folder.
//!
//! A run folder holds `config.json`, `losses.csv` (one row per step),
//! `samples/epoch_NNN.png` (an 8x8 grid from a fixed latent),
//! `checkpoint.mpk` (everything `--resume` needs), `metrics.csv` (FID, IS and
//! digit coverage every `--eval-every` epochs), `curves.png` (losses and FID
//! against epoch), `collapse.json` and `checkpoint-good.mpk` if the run
//! collapses, and, at the end, `generator.safetensors` and `discriminator.safetensors`.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use burn::prelude::*;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use shared::latent::{self, stream};
use shared::mnist::Split;
use shared::weights::{self, Precision, TrainingFacts};
use shared::{GanTrainer, ModelConfig, ModelKind, Recipe};

use crate::backend::{self, Backend};
use crate::checkpoint::{self, Progress};
use crate::evaluate;
use crate::metrics::collapse::{self, Collapse, Sign};
use crate::metrics::{Metrics, plot};
use crate::sample::{generate_grid, write_png};
use crate::{DataArgs, ModelArg, data, files};

/// Images in the fixed-latent grid written during training.
const GRID_SAMPLES: usize = 64;
/// Steps whose losses are read back from the device together.
const READBACK_EVERY: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipeArg {
    /// DCGAN practice: N(0, 0.02) init, BCE on logits, real labels 0.9.
    Stable,
    /// The post, literally: PyTorch init, Sigmoid + BCELoss, hard labels.
    Post,
}

impl RecipeArg {
    fn recipe(self) -> Recipe {
        match self {
            RecipeArg::Stable => Recipe::stable(),
            RecipeArg::Post => Recipe::post(),
        }
    }
}

#[derive(Args, Clone, Debug)]
pub struct TrainArgs {
    /// Which model to train [default: gan]
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub model: Option<ModelArg>,
    /// Training recipe [default: stable]
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub recipe: Option<RecipeArg>,
    /// Epochs to train (with --resume: the new total) [default: 30 for gan, 10 for pggan]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch [default: 64]
    #[arg(long, conflicts_with = "resume")]
    pub batch_size: Option<usize>,
    /// Adam learning rate [default: the recipe's, 2e-4]
    #[arg(long, conflicts_with = "resume")]
    pub lr: Option<f64>,
    /// Size of the latent vector [default: 100]
    #[arg(long, conflicts_with = "resume")]
    pub latent_dim: Option<usize>,
    /// Seed of initial weights, data order and noise [default: 0]
    #[arg(long, conflicts_with = "resume")]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder [default: runs/<model>]
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub run_dir: Option<PathBuf>,
    /// Write a sample grid every N epochs (and after the last) [default: 1]
    #[arg(long, value_name = "N")]
    pub sample_every: Option<usize>,
    /// Device to train on.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Continue the run in this folder exactly where its checkpoint left off.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<PathBuf>,
    /// Measure FID, IS and digit coverage every N epochs (and after the last); 0: never [default: 2]
    #[arg(long, value_name = "N")]
    pub eval_every: Option<usize>,
    /// Samples each measurement draws [default: 10000]
    #[arg(long, value_name = "N")]
    pub eval_samples: Option<usize>,
    /// Stop after this many steps in all (a short try, or a smoke test).
    #[arg(long, value_name = "STEPS")]
    pub max_steps: Option<u64>,
    /// Copy the final generator here, in f16 [default: web/weights/<model>.safetensors when ./web exists]
    #[arg(long, value_name = "FILE", conflicts_with = "no_export")]
    pub export: Option<PathBuf>,
    /// Do not copy the final generator for the web demo.
    #[arg(long)]
    pub no_export: bool,
}

/// Everything that defines a run; saved as `config.json` in its folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub model: ModelConfig,
    pub recipe: Recipe,
    pub seed: u64,
    pub batch_size: usize,
    pub epochs: usize,
    pub sample_every: usize,
    #[serde(default)]
    pub eval_every: usize,
    #[serde(default = "default_eval_samples")]
    pub eval_samples: usize,
    pub data_dir: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<PathBuf>,
}

fn default_eval_samples() -> usize {
    10_000
}

pub fn default_epochs(kind: ModelKind) -> usize {
    match kind {
        ModelKind::Gan => 30,
        ModelKind::Pggan => 10,
    }
}

fn new_config(args: &TrainArgs) -> anyhow::Result<(RunConfig, PathBuf)> {
    let kind: ModelKind = args.model.unwrap_or(ModelArg::Gan).into();
    let mut model = ModelConfig::post(kind);
    if let Some(dim) = args.latent_dim {
        match &mut model {
            ModelConfig::Gan(c) => c.latent_dim = dim,
            ModelConfig::Pggan(c) => c.latent_dim = dim,
        }
    }
    model.validate().map_err(|e| anyhow::anyhow!("--latent-dim: {e}"))?;
    if args.eval_samples.is_some_and(|n| n < 2) {
        bail!("--eval-samples must be at least 2 (a covariance needs two)");
    }
    let mut recipe = args.recipe.unwrap_or(RecipeArg::Stable).recipe();
    if let Some(lr) = args.lr {
        if !(lr.is_finite() && lr > 0.0) {
            bail!("--lr must be a positive number, got {lr}");
        }
        recipe.lr = lr;
    }
    let batch_size = args.batch_size.unwrap_or(64);
    if batch_size < 2 {
        bail!("--batch-size must be at least 2 (BatchNorm needs two images), got {batch_size}");
    }
    let export = match (&args.export, args.no_export) {
        (_, true) => None,
        (Some(path), false) => Some(path.clone()),
        (None, false) => Path::new("web").is_dir().then(|| default_export(kind)),
    };
    let config = RunConfig {
        model,
        recipe,
        seed: args.seed.unwrap_or(0),
        batch_size,
        epochs: args.epochs.unwrap_or(default_epochs(kind)),
        sample_every: args.sample_every.unwrap_or(1).max(1),
        eval_every: args.eval_every.unwrap_or(2),
        eval_samples: args.eval_samples.unwrap_or_else(default_eval_samples),
        data_dir: data::data_dir(&args.data),
        max_steps: args.max_steps,
        export,
    };
    let run_dir = args.run_dir.clone().unwrap_or_else(|| PathBuf::from("runs").join(kind.name()));
    Ok((config, run_dir))
}

/// Where the web demo looks for a model's generator.
pub fn default_export(kind: ModelKind) -> PathBuf {
    PathBuf::from("web").join("weights").join(format!("{kind}.safetensors"))
}

fn checkpoint_path(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint.mpk")
}

/// Steps in one epoch: the last, partial batch is kept, as PyTorch's DataLoader does.
fn steps_per_epoch(n: usize, batch_size: usize) -> usize {
    n.div_ceil(batch_size)
}

pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let selected = backend::select(args.backend)?;
    let device = selected.device.clone();

    // A fresh run, or the one in --resume's folder.
    let (config, run_dir, mut progress, mut noise_rng, mut trainer) = match &args.resume {
        Some(run_dir) => {
            let restored = checkpoint::load(&checkpoint_path(run_dir), &device)
                .with_context(|| format!("resuming {}", run_dir.display()))?;
            let mut config = restored.config;
            if let Some(epochs) = args.epochs {
                config.epochs = epochs;
            }
            if let Some(every) = args.sample_every {
                config.sample_every = every.max(1);
            }
            if let Some(every) = args.eval_every {
                config.eval_every = every;
            }
            if let Some(samples) = args.eval_samples {
                config.eval_samples = samples;
            }
            config.max_steps = args.max_steps;
            if args.data.data_dir.is_some() {
                config.data_dir = data::data_dir(&args.data);
            }
            if args.no_export {
                config.export = None;
            } else if let Some(path) = &args.export {
                config.export = Some(path.clone());
            }
            println!(
                "resuming {} at epoch {}, batch {} (step {})",
                run_dir.display(),
                restored.progress.epoch + 1,
                restored.progress.batch,
                restored.progress.step
            );
            (config, run_dir.clone(), restored.progress, restored.noise_rng, restored.trainer)
        }
        None => {
            let (config, run_dir) = new_config(&args)?;
            if checkpoint_path(&run_dir).exists() {
                bail!(
                    "{} already holds a run; continue it with --resume {} or choose another --run-dir",
                    run_dir.display(),
                    run_dir.display()
                );
            }
            let trainer = GanTrainer::new(&config.model, config.recipe.clone(), config.seed, &device);
            let progress = Progress { epoch: 0, batch: 0, step: 0 };
            let rng = latent::rng(config.seed, stream::TRAIN_NOISE);
            (config, run_dir, progress, rng, trainer)
        }
    };
    let kind = config.model.kind();
    let side = config.model.image_size();
    let dim = config.model.latent_dim();

    println!("device: {}", selected.description);
    println!(
        "model: {kind} ({side}x{side}), recipe: {:?} init, {:?} loss, real label {}, lr {}",
        config.recipe.init, config.recipe.loss, config.recipe.real_label, config.recipe.lr
    );
    let dataset = data::load(&config.data_dir, Split::Train)
        .with_context(|| format!("loading MNIST from {}", config.data_dir.display()))?;
    let n = dataset.images.count;
    let images = dataset.images.at_side(side);
    let steps = steps_per_epoch(n, config.batch_size);
    println!(
        "data: {n} MNIST training images from {}, {steps} steps of {} per epoch",
        config.data_dir.display(),
        config.batch_size
    );

    // Nothing is written before everything above has succeeded.
    std::fs::create_dir_all(run_dir.join("samples"))
        .with_context(|| format!("cannot create run folder {}", run_dir.display()))?;
    files::write_atomic(&run_dir.join("config.json"), serde_json::to_string_pretty(&config)?.as_bytes())?;
    let mut log = LossLog::open(&run_dir.join("losses.csv"), progress.step)?;
    let mut metrics_log = MetricsLog::open(&run_dir.join("metrics.csv"), progress.step)?;
    let mut collapse = read_collapse(&run_dir, progress.step)?;
    let evaluator = match config.eval_every {
        0 => None,
        _ => Some(evaluate::evaluator(None, &DataArgs { data_dir: Some(config.data_dir.clone()) }, &device)?),
    };
    println!(
        "run folder: {} (config.json, losses.csv, metrics.csv, curves.png, samples/, checkpoint.mpk)",
        run_dir.display()
    );
    let grid_noise = latent::noise(config.seed, GRID_SAMPLES, dim);

    let started = Instant::now();
    let mut stopped_early = false;
    while progress.epoch < config.epochs {
        let order = latent::epoch_order(config.seed, progress.epoch, n);
        let bar = epoch_bar(steps as u64, progress.epoch, config.epochs);
        bar.set_position(progress.batch as u64);
        let mut pending = Vec::new();
        while progress.batch < steps {
            let start = progress.batch * config.batch_size;
            let batch = &order[start..(start + config.batch_size).min(n)];
            let (real, z) = shared::train::batch(&images, batch, &mut noise_rng, dim, &device);
            pending.push(trainer.step(real, z).stacked());
            progress.batch += 1;
            progress.step += 1;
            bar.inc(1);
            let stop = config.max_steps.is_some_and(|m| progress.step >= m);
            if pending.len() == READBACK_EVERY || progress.batch == steps || stop {
                let last = log.append(progress.epoch, progress.step, std::mem::take(&mut pending))?;
                bar.set_message(format!(
                    "D {:.3}  G {:.3}  D(x) {:.2}  D(G(z)) {:.2}",
                    last[0], last[1], last[2], last[3]
                ));
                if let (None, Some(sign)) = (&collapse, log.window_means().and_then(collapse::check_losses)) {
                    collapse = Some(bar.suspend(|| record_collapse(&run_dir, &progress, sign))?);
                }
            }
            if stop {
                stopped_early = progress.batch < steps || progress.epoch + 1 < config.epochs;
                break;
            }
        }
        bar.finish_and_clear();
        // One line per epoch, also where no progress bar is drawn (logs, CI).
        let [d, g, d_real, d_fake] = log.take_means();
        println!(
            "epoch {}/{}: D {d:.3}  G {g:.3}  D(x) {d_real:.2}  D(G(z)) {d_fake:.2}  ({:.0} s elapsed)",
            progress.epoch + 1,
            config.epochs,
            started.elapsed().as_secs_f64()
        );
        let epoch_done = progress.batch == steps;
        if epoch_done {
            progress.epoch += 1;
            progress.batch = 0;
        }
        let last_epoch = progress.epoch == config.epochs;
        if epoch_done && (progress.epoch % config.sample_every == 0 || last_epoch) || stopped_early {
            let name = format!("epoch_{:03}.png", progress.epoch);
            let grid = generate_grid(&trainer.generator.valid(), &grid_noise, dim, side, &device)?;
            write_png(&run_dir.join("samples").join(&name), &grid, 2)?;
        }
        let due = |every: usize| every > 0 && (progress.epoch % every == 0 || last_epoch);
        if let Some(evaluator) = evaluator.as_ref().filter(|_| epoch_done && due(config.eval_every) || stopped_early) {
            let measured = Instant::now();
            let metrics =
                evaluator.generator(&trainer.generator.valid(), &config.model, config.eval_samples, config.seed)?;
            println!("  {}  ({:.1} s)", metrics.summary(), measured.elapsed().as_secs_f64());
            // Digits are judged on whole epochs only: a short try's are not yet formed.
            let sign = epoch_done.then(|| collapse::check_metrics(&metrics, progress.epoch)).flatten();
            if let (None, Some(sign)) = (&collapse, sign) {
                collapse = Some(record_collapse(&run_dir, &progress, sign)?);
            }
            let epochs = progress.epoch as f64 + progress.batch as f64 / steps as f64;
            metrics_log.append(progress.step, epochs, &metrics, collapse.is_some())?;
        }
        log.flush()?;
        checkpoint::save(&checkpoint_path(&run_dir), &config, &progress, &noise_rng, &trainer)?;
        plot_curves(&run_dir, &config, collapse.as_ref())?;
        if stopped_early {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();

    let facts = TrainingFacts {
        recipe: config.recipe.clone(),
        seed: config.seed,
        batch_size: config.batch_size,
        epochs: progress.epoch,
        steps: progress.step,
    };
    let generator =
        weights::save_generator(&trainer.generator.valid(), &config.model, Some(facts.clone()), Precision::F32)?;
    let discriminator = weights::save_discriminator(&trainer.discriminator.valid(), &config.model, Precision::F32)?;
    files::write_atomic(&run_dir.join("generator.safetensors"), &generator)?;
    files::write_atomic(&run_dir.join("discriminator.safetensors"), &discriminator)?;
    println!(
        "{} after {} steps ({:.1} epochs) in {elapsed:.0} s; weights in {}",
        if stopped_early { "stopped" } else { "done" },
        progress.step,
        progress.step as f64 / steps as f64,
        run_dir.join("generator.safetensors").display()
    );
    if let Some(export) = &config.export {
        // A collapsed generator is not worth shipping: export the last good one.
        let good = run_dir.join(GOOD_CHECKPOINT);
        let (exported, facts) = match &collapse {
            Some(c) if good.exists() => {
                let restored = checkpoint::load(&good, &device)?;
                println!(
                    "the run collapsed at epoch {}: exporting the models of epoch {} instead",
                    c.epoch, restored.progress.epoch
                );
                let facts = TrainingFacts { epochs: restored.progress.epoch, steps: restored.progress.step, ..facts };
                (restored.trainer, facts)
            }
            _ => (trainer, facts),
        };
        // Half the download for the web page; BatchNorm statistics stay f32.
        // The discriminator goes beside it, for fine-tuning in the page.
        let half = weights::save_generator(&exported.generator.valid(), &config.model, Some(facts), Precision::F16)?;
        let half_d = weights::save_discriminator(&exported.discriminator.valid(), &config.model, Precision::F16)?;
        let name = export.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let export_d = export.with_file_name(weights::discriminator_file_name(&name));
        files::write_atomic(export, &half)?;
        files::write_atomic(&export_d, &half_d)?;
        println!(
            "exported the generator (f16) for the web demo to {}, its discriminator to {}",
            export.display(),
            export_d.display()
        );
    }
    Ok(())
}

fn epoch_bar(steps: u64, epoch: usize, epochs: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "epoch {}/{epochs} [{{bar:30}}] {{pos}}/{{len}} {{per_sec}} ETA {{eta}}  {{msg}}",
            epoch + 1
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// `losses.csv`, one row per step, appended as losses are read back.
struct LossLog {
    file: std::io::BufWriter<std::fs::File>,
    /// Sums of the four columns since the last [`LossLog::take_means`], and their count.
    sums: [f64; 4],
    rows: u64,
    /// The last [`LossLog::WINDOW`] rows, which collapse is judged on.
    window: VecDeque<[f32; 4]>,
}

impl LossLog {
    const HEADER: &str = "step,epoch,d_loss,g_loss,d_real,d_fake";
    const WINDOW: usize = 200;

    /// Opens the log of a run that has done `steps` steps: rows after them
    /// (written after its last checkpoint) are dropped, so a resumed run's log
    /// reads as if it had never stopped.
    fn open(path: &Path, steps: u64) -> anyhow::Result<Self> {
        let file = reopen_csv(path, Self::HEADER, steps)?;
        Ok(Self { file: std::io::BufWriter::new(file), sums: [0.0; 4], rows: 0, window: VecDeque::new() })
    }

    /// Reads back the stacked losses of the last steps (one transfer) and
    /// appends them; returns the newest row.
    fn append(&mut self, epoch: usize, last_step: u64, pending: Vec<Tensor<1>>) -> anyhow::Result<[f32; 4]> {
        let count = pending.len() as u64;
        let values: Vec<f32> =
            Tensor::cat(pending, 0).into_data().try_into_vec_as::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut last = [0.0; 4];
        for (i, row) in values.chunks_exact(4).enumerate() {
            let step = last_step + 1 - count + i as u64;
            writeln!(self.file, "{step},{},{},{},{},{}", epoch + 1, row[0], row[1], row[2], row[3])?;
            last.copy_from_slice(row);
            self.sums.iter_mut().zip(row).for_each(|(sum, &v)| *sum += v as f64);
            self.rows += 1;
            self.window.push_back([row[0], row[1], row[2], row[3]]);
            if self.window.len() > Self::WINDOW {
                self.window.pop_front();
            }
        }
        Ok(last)
    }

    /// Means of the columns over the last [`Self::WINDOW`] steps, once there are that many.
    fn window_means(&self) -> Option<[f64; 4]> {
        (self.window.len() == Self::WINDOW).then(|| {
            let mut sums = [0.0; 4];
            self.window.iter().for_each(|row| sums.iter_mut().zip(row).for_each(|(s, &v)| *s += v as f64));
            sums.map(|s| s / Self::WINDOW as f64)
        })
    }

    /// Means of the columns over the rows appended since the last call.
    fn take_means(&mut self) -> [f64; 4] {
        let means = self.sums.map(|sum| sum / self.rows.max(1) as f64);
        (self.sums, self.rows) = ([0.0; 4], 0);
        means
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        Ok(self.file.flush()?)
    }
}

/// Opens a CSV log for appending, keeping only the rows whose first column is
/// at most `upto` (those before the checkpoint a run resumes from), so a
/// resumed run's log reads as if it had never stopped.
fn reopen_csv(path: &Path, header: &str, upto: u64) -> anyhow::Result<std::fs::File> {
    let mut kept = vec![header.to_string()];
    if upto > 0 && path.exists() {
        let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        for line in BufReader::new(file).lines().skip(1) {
            let line = line?;
            let first: u64 = line.split(',').next().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
            if first <= upto {
                kept.push(line);
            }
        }
    }
    let mut text = kept.join("\n");
    text.push('\n');
    files::write_atomic(path, text.as_bytes())?;
    OpenOptions::new().append(true).open(path).with_context(|| format!("cannot append to {}", path.display()))
}

/// `metrics.csv`, one row per measurement.
struct MetricsLog {
    file: std::fs::File,
}

impl MetricsLog {
    const HEADER: &str = "step,epoch,fid,inception_score,coverage,collapsed,d0,d1,d2,d3,d4,d5,d6,d7,d8,d9";

    fn open(path: &Path, steps: u64) -> anyhow::Result<Self> {
        Ok(Self { file: reopen_csv(path, Self::HEADER, steps)? })
    }

    /// A row for the model after `step` steps, `epoch` (fractional) epochs.
    fn append(&mut self, step: u64, epoch: f64, m: &Metrics, collapsed: bool) -> anyhow::Result<()> {
        let digits = m.histogram.map(|c| c.to_string()).join(",");
        writeln!(
            self.file,
            "{step},{epoch:.3},{},{},{},{},{digits}",
            m.fid,
            m.inception_score,
            m.coverage(),
            collapsed as u8
        )?;
        Ok(self.file.flush()?)
    }
}

/// The last good checkpoint of a run that collapsed.
const GOOD_CHECKPOINT: &str = "checkpoint-good.mpk";
const COLLAPSE_FILE: &str = "collapse.json";

/// The collapse a run folder records, if it happened by `step` (where a
/// resumed run continues from).
fn read_collapse(run_dir: &Path, step: u64) -> anyhow::Result<Option<Collapse>> {
    let path = run_dir.join(COLLAPSE_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let collapse: Collapse =
        serde_json::from_slice(&files::read(&path)?).with_context(|| format!("{} is not readable", path.display()))?;
    Ok((collapse.step <= step).then_some(collapse))
}

/// Warns once, writes `collapse.json`, and keeps the checkpoint written before
/// the collapse as `checkpoint-good.mpk` (the next save would overwrite it).
fn record_collapse(run_dir: &Path, progress: &Progress, sign: Sign) -> anyhow::Result<Collapse> {
    let checkpoint = checkpoint_path(run_dir);
    let good_epoch = match checkpoint.exists() {
        true => {
            let epoch = checkpoint::read_progress(&checkpoint)?.epoch;
            std::fs::rename(&checkpoint, run_dir.join(GOOD_CHECKPOINT))
                .with_context(|| format!("keeping {} as {GOOD_CHECKPOINT}", checkpoint.display()))?;
            Some(epoch)
        }
        false => None,
    };
    // The epoch under way, counted from 1 (the one just finished at an epoch's end).
    let epoch = progress.epoch + (progress.batch > 0) as usize;
    let collapse = Collapse { epoch, step: progress.step, sign, good_epoch };
    files::write_atomic(&run_dir.join(COLLAPSE_FILE), serde_json::to_string_pretty(&collapse)?.as_bytes())?;
    let kept = match good_epoch {
        Some(e) => format!("the checkpoint of epoch {e} is kept as {}", run_dir.join(GOOD_CHECKPOINT).display()),
        None => "no earlier checkpoint to keep".into(),
    };
    eprintln!(
        "warning: the run collapsed at epoch {epoch} (step {}): {}; {kept}; training goes on",
        progress.step, collapse.sign
    );
    Ok(collapse)
}

/// Redraws `curves.png` from the run's logs.
fn plot_curves(run_dir: &Path, config: &RunConfig, collapse: Option<&Collapse>) -> anyhow::Result<()> {
    let read = |name: &str| -> anyhow::Result<Vec<Vec<f64>>> {
        let path = run_dir.join(name);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(text.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap_or(f64::NAN)).collect()).collect())
    };
    // Epoch means of the per-step losses (columns: step, epoch, d, g, ...).
    let mut losses: Vec<(f64, f64, f64)> = Vec::new();
    let mut count = 0.0;
    for row in read("losses.csv")? {
        match losses.last_mut() {
            Some(last) if last.0 == row[1] => {
                count += 1.0;
                last.1 += (row[2] - last.1) / count;
                last.2 += (row[3] - last.2) / count;
            }
            _ => {
                count = 1.0;
                losses.push((row[1], row[2], row[3]));
            }
        }
    }
    let fid = read("metrics.csv")?.iter().map(|row| (row[1], row[2])).collect();
    let title = format!(
        "{} ({:?} init, {:?}), seed {}",
        config.model.kind(),
        config.recipe.init,
        config.recipe.loss,
        config.seed
    );
    plot::write(
        &run_dir.join("curves.png"),
        &title,
        &plot::Curves { losses, fid, collapse: collapse.map(|c| c.epoch as f64) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{GanConfig, burn::tensor::Device};

    #[test]
    fn a_collapse_keeps_the_checkpoint_before_it_and_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        let model = ModelConfig::Gan(GanConfig {
            latent_dim: 4,
            generator_hidden: vec![8],
            discriminator_hidden: vec![8],
            image_size: 28,
        });
        let trainer = GanTrainer::new(&model, Recipe::post(), 0, &Device::flex());
        let config = RunConfig {
            model,
            recipe: Recipe::post(),
            seed: 0,
            batch_size: 8,
            epochs: 10,
            sample_every: 1,
            eval_every: 0,
            eval_samples: 10,
            data_dir: "mnist".into(),
            max_steps: None,
            export: None,
        };
        let saved = Progress { epoch: 3, batch: 0, step: 300 };
        checkpoint::save(&checkpoint_path(run), &config, &saved, &latent::rng(0, 0), &trainer).unwrap();

        let now = Progress { epoch: 3, batch: 50, step: 350 };
        let sign = Sign::DiscriminatorWins { d_loss: 0.01, g_loss: 9.0 };
        let collapse = record_collapse(run, &now, sign.clone()).unwrap();
        assert_eq!(collapse, Collapse { epoch: 4, step: 350, sign, good_epoch: Some(3) });
        assert!(run.join(GOOD_CHECKPOINT).is_file() && !checkpoint_path(run).exists());
        assert_eq!(checkpoint::read_progress(&run.join(GOOD_CHECKPOINT)).unwrap(), saved);
        // A resumed run knows of it once it is past that step, not before.
        assert_eq!(read_collapse(run, 400).unwrap(), Some(collapse));
        assert_eq!(read_collapse(run, 300).unwrap(), None);
    }

    #[test]
    fn resumed_logs_drop_rows_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, "step,epoch\n100,1\n200,2\n300,3\n").unwrap();
        drop(reopen_csv(&path, "step,epoch", 200).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "step,epoch\n100,1\n200,2\n");
    }
}
