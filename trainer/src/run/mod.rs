//! `train`: the training loop, its progress display and its run folder.
//!
//! A run folder holds `config.json`, `losses.csv` (one row per step),
//! `samples/epoch_NNN.png` (an 8x8 grid from a fixed latent),
//! `checkpoint.mpk` (everything `--resume` needs), `metrics.csv` (FID, IS and
//! digit coverage every `--eval-every` epochs), `curves.png` (losses and FID
//! against epoch), `collapse.json` and `checkpoint-good.mpk` if the run
//! collapses, and, at the end, `generator.safetensors` and `discriminator.safetensors`.

mod checkpoint;
mod config;
mod export;
mod folder;
mod logs;

pub use config::TrainArgs;
pub use logs::read_fid_curve;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use shared::epochs::Epochs;
use shared::growth::Schedule;
use shared::latent::ChaCha8Rng;
use shared::latent::{self, stream};
use shared::mnist::{SizedImages, Split};
use shared::{GanTrainer, Generator, LossKind, ModelConfig};

use crate::backend;
use crate::metrics::collapse::{self, Collapse};
use crate::metrics::{Evaluator, Metrics};
use crate::sample::{generate_grid, write_png};
use crate::{DataArgs, data, evaluate, fault, files};
use checkpoint::Progress;
use config::{RunConfig, new_config, resumed};
use folder::{checkpoint_path, plot_curves, read_collapse, record_collapse};
use logs::{LossLog, MetricsLog};

const GRID_SAMPLES: usize = 64;
/// Steps whose losses are read back from the device together.
const READBACK_EVERY: u64 = 20;
/// Training time between checkpoints within an epoch, unless `--checkpoint-every` says.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(300);

pub fn train(args: TrainArgs) -> anyhow::Result<()> {
    let mut run = Run::open(&args)?;
    let stopped_early = run.train()?;
    run.finish(stopped_early)
}

/// A run in progress: its settings, models and position, and its folder's logs.
struct Run {
    config: RunConfig,
    run_dir: PathBuf,
    device: Device,
    progress: Progress,
    noise_rng: ChaCha8Rng,
    trainer: GanTrainer,
    images: SizedImages,
    epochs: Epochs,
    log: LossLog,
    metrics_log: MetricsLog,
    collapse: Option<Collapse>,
    evaluator: Option<Evaluator>,
    /// The last measurement and its step: a phase that ends on an epoch's
    /// last step is measured once, not again for the epoch.
    last_measured: Option<(u64, Metrics)>,
    /// The latents of every sample grid.
    grid_noise: Vec<f32>,
    started: Instant,
    last_save: Instant,
}

impl Run {
    /// A fresh run, or the one in --resume's folder, with its folder ready.
    fn open(args: &TrainArgs) -> anyhow::Result<Self> {
        let selected = backend::select(args.backend)?;
        let device = selected.device.clone();
        let (config, run_dir, progress, noise_rng, trainer) = match &args.resume {
            Some(run_dir) => {
                let restored = checkpoint::load(&checkpoint_path(run_dir), &device)
                    .with_context(|| format!("resuming {}", run_dir.display()))?;
                let config = resumed(restored.config, args);
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
                let (config, run_dir) = new_config(args)?;
                if checkpoint_path(&run_dir).exists() {
                    bail!(
                        "{} already holds a run; continue it with --resume {} or choose another --run-dir",
                        run_dir.display(),
                        run_dir.display()
                    );
                }
                let trainer = GanTrainer::new(&config.model, config.recipe.clone(), config.seed, &device);
                let rng = latent::rng(config.seed, stream::TRAIN_NOISE);
                (config, run_dir, Progress::default(), rng, trainer)
            }
        };
        println!("device: {}", selected.description);
        describe(&config);
        let dataset = data::load(&config.data_dir, Split::Train)
            .with_context(|| format!("loading MNIST from {}", config.data_dir.display()))?;
        let n = dataset.images.count;
        let epochs = Epochs::new(config.seed, n, config.batch_size, progress.epoch, progress.batch);
        println!(
            "data: {n} MNIST training images from {}, {} steps of {} per epoch",
            config.data_dir.display(),
            epochs.steps_per_epoch(),
            config.batch_size
        );

        // Nothing is written before everything above has succeeded.
        std::fs::create_dir_all(run_dir.join("samples"))
            .with_context(|| format!("cannot create run folder {}", run_dir.display()))?;
        files::write_atomic(&run_dir.join("config.json"), serde_json::to_string_pretty(&config)?.as_bytes())?;
        let evaluator = match config.eval_every {
            0 => None,
            _ => Some(evaluate::evaluator(None, &DataArgs { data_dir: Some(config.data_dir.clone()) }, &device)?),
        };
        println!(
            "run folder: {} (config.json, losses.csv, metrics.csv, curves.png, samples/, checkpoint.mpk)",
            run_dir.display()
        );
        let now = Instant::now();
        Ok(Self {
            images: dataset.images.at_side(config.model.image_size()),
            epochs,
            log: LossLog::open(&run_dir.join("losses.csv"), progress.step, progress.epoch)?,
            metrics_log: MetricsLog::open(&run_dir.join("metrics.csv"), progress.step)?,
            collapse: read_collapse(&run_dir, progress.step)?,
            evaluator,
            last_measured: None,
            grid_noise: latent::noise(config.seed, GRID_SAMPLES, config.model.latent_dim()),
            started: now,
            last_save: now,
            config,
            run_dir,
            device,
            progress,
            noise_rng,
            trainer,
        })
    }

    /// Trains the planned epochs, or until --max-steps; true if it stopped early.
    fn train(&mut self) -> anyhow::Result<bool> {
        while self.progress.epoch < self.config.epochs {
            let stopped_early = self.train_epoch()?;
            self.end_epoch(stopped_early)?;
            if stopped_early {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The rest of the current epoch; true if --max-steps stopped it early.
    fn train_epoch(&mut self) -> anyhow::Result<bool> {
        let steps = self.epochs.steps_per_epoch();
        let bar = epoch_bar(steps as u64, self.progress.epoch, self.config.epochs);
        bar.set_position(self.progress.batch as u64);
        let mut pending = Vec::new();
        let dim = self.config.model.latent_dim();
        while self.progress.batch < steps {
            let batch = self.epochs.next_batch();
            self.progress.images += batch.len() as u64;
            let (real, z) = shared::train::batch(&self.images, batch, &mut self.noise_rng, dim, &self.device);
            pending.push(self.trainer.step(real, z).stacked());
            self.progress.batch += 1;
            self.progress.step += 1;
            bar.inc(1);
            self.end_phase_if_due(&bar)?;
            self.trainer.set_images_seen(self.progress.images);
            let stop = self.config.max_steps.is_some_and(|m| self.progress.step >= m);
            // Within the epoch (its end saves one anyway), so that a killed run loses little.
            let checkpoint_now = self.progress.batch < steps
                && !stop
                && match self.config.checkpoint_every {
                    Some(every) => self.progress.step.is_multiple_of(every),
                    None => {
                        self.progress.step.is_multiple_of(READBACK_EVERY)
                            && self.last_save.elapsed() >= CHECKPOINT_INTERVAL
                    }
                };
            // Read back on step numbers, not on what is pending, so that a
            // resumed run checks for collapse at the very steps it would have.
            if self.progress.step.is_multiple_of(READBACK_EVERY)
                || self.progress.batch == steps
                || stop
                || checkpoint_now
            {
                self.read_back(&bar, std::mem::take(&mut pending))?;
            }
            if checkpoint_now {
                self.save_checkpoint()?;
            }
            fault::point("step");
            if stop {
                bar.finish_and_clear();
                return Ok(self.progress.batch < steps || self.progress.epoch + 1 < self.config.epochs);
            }
        }
        bar.finish_and_clear();
        Ok(false)
    }

    /// Logs the pending steps' losses, shows the last, and watches for collapse.
    fn read_back(&mut self, bar: &ProgressBar, pending: Vec<Tensor<1>>) -> anyhow::Result<()> {
        let last = self.log.append(self.progress.epoch, self.progress.step, pending)?;
        let stage = self.trainer.stage().map(|s| format!("{s}  ")).unwrap_or_default();
        bar.set_message(format!(
            "{stage}D {:.3}  G {:.3}  D(x) {:.2}  D(G(z)) {:.2}",
            last[0], last[1], last[2], last[3]
        ));
        if let (None, Some(sign)) = (&self.collapse, self.log.window.means().and_then(collapse::check_losses)) {
            self.collapse = Some(bar.suspend(|| record_collapse(&self.run_dir, &self.progress, sign))?);
        }
        Ok(())
    }

    /// Growing: a phase that ends is shown and measured at the resolution it trained.
    fn end_phase_if_due(&mut self, bar: &ProgressBar) -> anyhow::Result<()> {
        let (Some(done), Some(next)) = (self.trainer.stage(), self.trainer.scheduled_stage(self.progress.images))
        else {
            return Ok(());
        };
        if done.phase() == next.phase() {
            return Ok(());
        }
        bar.suspend(|| println!("  {done} done after {} images; now {next}", self.progress.images));
        let name = format!("step_{:07}_{}x{}.png", self.progress.step, done.side(), done.side());
        let sampler = self.trainer.sampler();
        self.write_grid(&sampler, &name)?;
        if let Some(metrics) = self.measure(&sampler)? {
            bar.suspend(|| println!("  {}", metrics.summary()));
            self.log_metrics(&metrics, done.side())?;
            self.last_measured = Some((self.progress.step, metrics));
        }
        Ok(())
    }

    /// The epoch's line, grid, measurement and checkpoint.
    fn end_epoch(&mut self, stopped_early: bool) -> anyhow::Result<()> {
        // One line per epoch, also where no progress bar is drawn (logs, CI).
        let [d, g, d_real, d_fake] = self.log.take_means();
        let stage = self.trainer.stage().map(|s| format!(", at {s}")).unwrap_or_default();
        println!(
            "epoch {}/{}: D {d:.3}  G {g:.3}  D(x) {d_real:.2}  D(G(z)) {d_fake:.2}  ({:.0} s elapsed{stage})",
            self.progress.epoch + 1,
            self.config.epochs,
            self.started.elapsed().as_secs_f64()
        );
        let epoch_done = self.progress.batch == self.epochs.steps_per_epoch();
        if epoch_done {
            self.progress.epoch += 1;
            self.progress.batch = 0;
        }
        let epoch = self.progress.epoch;
        let last_epoch = epoch == self.config.epochs;
        let grid_due = epoch_done && (epoch.is_multiple_of(self.config.sample_every) || last_epoch) || stopped_early;
        let every = self.config.eval_every;
        let eval_due = epoch_done && every > 0 && (epoch.is_multiple_of(every) || last_epoch) || stopped_early;
        let step = self.progress.step;
        let again = match eval_due {
            true => self.last_measured.take().filter(|(at, _)| *at == step).map(|(_, metrics)| metrics),
            false => None,
        };
        // Recalibrating the sampler's statistics takes seconds: only when it is drawn.
        let sampler = (grid_due || eval_due && again.is_none()).then(|| self.trainer.sampler());
        if let Some(sampler) = sampler.as_ref().filter(|_| grid_due) {
            self.write_grid(sampler, &format!("epoch_{epoch:03}.png"))?;
        }
        if eval_due {
            let measured = Instant::now();
            let fresh = match (&again, &sampler) {
                (None, Some(sampler)) => self.measure(sampler)?,
                _ => None,
            };
            if let Some(metrics) = &fresh {
                println!("  {}  ({:.1} s)", metrics.summary(), measured.elapsed().as_secs_f64());
            }
            if let Some(metrics) = again.as_ref().or(fresh.as_ref()) {
                // Digits are judged on whole epochs only: a short try's are not yet formed.
                let sign = epoch_done.then(|| collapse::check_metrics(metrics, epoch)).flatten();
                if let (None, Some(sign)) = (&self.collapse, sign) {
                    self.collapse = Some(record_collapse(&self.run_dir, &self.progress, sign)?);
                }
                if fresh.is_some() {
                    let side = self.trainer.stage().map_or(self.config.model.image_size(), |s| s.side());
                    self.log_metrics(metrics, side)?;
                }
            }
        }
        self.save_checkpoint()?;
        plot_curves(&self.run_dir, &self.config, self.collapse.as_ref())
    }

    fn write_grid(&self, sampler: &Generator, name: &str) -> anyhow::Result<()> {
        let (dim, side) = (self.config.model.latent_dim(), self.config.model.image_size());
        let grid = generate_grid(sampler, &self.grid_noise, dim, side, &self.device)?;
        write_png(&self.run_dir.join("samples").join(name), &grid, 2)
    }

    /// FID, IS and coverage of `sampler`, if the run measures.
    fn measure(&self, sampler: &Generator) -> anyhow::Result<Option<Metrics>> {
        let Some(evaluator) = &self.evaluator else { return Ok(None) };
        Ok(Some(evaluator.generator(sampler, &self.config.model, self.config.eval_samples, self.config.seed)?))
    }

    /// A row of `metrics.csv` for a generator drawing at `side` pixels.
    fn log_metrics(&mut self, metrics: &Metrics, side: usize) -> anyhow::Result<()> {
        let epochs = self.progress.epoch as f64 + self.progress.batch as f64 / self.epochs.steps_per_epoch() as f64;
        self.metrics_log.append(self.progress.step, epochs, metrics, self.collapse.is_some(), side)
    }

    fn save_checkpoint(&mut self) -> anyhow::Result<()> {
        self.log.flush()?;
        let path = checkpoint_path(&self.run_dir);
        checkpoint::save(&path, &self.config, &self.progress, &self.noise_rng, &self.trainer)?;
        self.last_save = Instant::now();
        Ok(())
    }
}

/// The model, recipe and schedule, in a few lines.
fn describe(config: &RunConfig) {
    let kind = config.model.kind();
    let side = config.model.image_size();
    let recipe = &config.recipe;
    let label = match recipe.loss {
        LossKind::Hinge => String::new(),
        _ => format!(", real label {}", recipe.real_label),
    };
    println!(
        "model: {kind} ({side}x{side}), recipe: {} init, {} loss{label}, lr {}, {}",
        recipe.init,
        recipe.loss,
        recipe.lr,
        match recipe.ema_decay {
            0.0 => "no moving average of G".to_string(),
            decay => format!("G's moving average (decay {decay}) drawn and exported"),
        }
    );
    let aids: Vec<&str> = [
        (matches!(&config.model, ModelConfig::Pggan(c) if c.minibatch_stddev), "minibatch standard deviation in D"),
        (recipe.equalizes(&config.model), "equalised learning rate"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if !aids.is_empty() {
        println!("training aids: {}", aids.join(", "));
    }
    if let (Schedule::Progressive { fade_images, stable_images }, ModelConfig::Pggan(c)) =
        (config.recipe.schedule, &config.model)
    {
        let grown = config.recipe.schedule.images_to_grow(c.full_depth());
        println!(
            "schedule: progressive, from 4x4 to {side}x{side}: each block fades in over {fade_images} images, \
             each resolution then trains {stable_images}; full size after {grown} images"
        );
    }
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
