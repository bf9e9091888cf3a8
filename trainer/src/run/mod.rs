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
mod folder;
mod logs;

pub use config::TrainArgs;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use shared::growth::Schedule;
use shared::latent::{self, stream};
use shared::mnist::Split;
use shared::weights::{self, Precision, TrainingFacts};
use shared::{GanTrainer, ModelConfig};

use crate::backend;
use crate::metrics::collapse::{self, Collapse};
use crate::sample::{generate_grid, write_png};
use crate::{DataArgs, data, evaluate, fault, files};
use checkpoint::Progress;
use config::{default_export, new_config, resumed};
use folder::{GOOD_CHECKPOINT, checkpoint_path, plot_curves, read_collapse, record_collapse};
use logs::{LossLog, MetricsLog};

const GRID_SAMPLES: usize = 64;
/// Steps whose losses are read back from the device together.
const READBACK_EVERY: u64 = 20;
/// Training time between checkpoints within an epoch, unless `--checkpoint-every` says.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(300);

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
            let config = resumed(restored.config, &args);
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
            let progress = Progress::default();
            let rng = latent::rng(config.seed, stream::TRAIN_NOISE);
            (config, run_dir, progress, rng, trainer)
        }
    };
    let kind = config.model.kind();
    let side = config.model.image_size();
    let dim = config.model.latent_dim();

    println!("device: {}", selected.description);
    println!(
        "model: {kind} ({side}x{side}), recipe: {} init, {} loss, real label {}, lr {}, {}",
        config.recipe.init,
        config.recipe.loss,
        config.recipe.real_label,
        config.recipe.lr,
        match config.recipe.ema_decay {
            0.0 => "no moving average of G".to_string(),
            decay => format!("G's moving average (decay {decay}) drawn and exported"),
        }
    );
    if let (Schedule::Progressive { fade_images, stable_images }, ModelConfig::Pggan(c)) =
        (config.recipe.schedule, &config.model)
    {
        let grown = config.recipe.schedule.images_to_grow(c.full_depth());
        println!(
            "schedule: progressive, from 4x4 to {side}x{side}: each block fades in over {fade_images} images, \
             each resolution then trains {stable_images}; full size after {grown} images"
        );
    }
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
    let mut last_save = started;
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
            progress.images += batch.len() as u64;
            bar.inc(1);
            // Growing: a phase that ends is shown and measured at the resolution it trained.
            if let (Some(done), Some(next)) = (trainer.stage(), trainer.scheduled_stage(progress.images))
                && done.phase() != next.phase()
            {
                bar.suspend(|| println!("  {done} done after {} images; now {next}", progress.images));
                let name = format!("step_{:07}_{}x{}.png", progress.step, done.side(), done.side());
                let sampler = trainer.sampler();
                let grid = generate_grid(&sampler, &grid_noise, dim, side, &device)?;
                write_png(&run_dir.join("samples").join(&name), &grid, 2)?;
                if let Some(evaluator) = &evaluator {
                    let metrics = evaluator.generator(&sampler, &config.model, config.eval_samples, config.seed)?;
                    bar.suspend(|| println!("  {}", metrics.summary()));
                    let epochs = progress.epoch as f64 + progress.batch as f64 / steps as f64;
                    metrics_log.append(progress.step, epochs, &metrics, collapse.is_some(), done.side())?;
                }
            }
            trainer.set_images_seen(progress.images);
            let stop = config.max_steps.is_some_and(|m| progress.step >= m);
            // Within the epoch (its end saves one anyway), so that a killed run loses little.
            let checkpoint_now = progress.batch < steps
                && !stop
                && match config.checkpoint_every {
                    Some(every) => progress.step.is_multiple_of(every),
                    None => progress.step.is_multiple_of(READBACK_EVERY) && last_save.elapsed() >= CHECKPOINT_INTERVAL,
                };
            // Read back on step numbers, not on what is pending, so that a
            // resumed run checks for collapse at the very steps it would have.
            if progress.step.is_multiple_of(READBACK_EVERY) || progress.batch == steps || stop || checkpoint_now {
                let last = log.append(progress.epoch, progress.step, std::mem::take(&mut pending))?;
                let stage = trainer.stage().map(|s| format!("{s}  ")).unwrap_or_default();
                bar.set_message(format!(
                    "{stage}D {:.3}  G {:.3}  D(x) {:.2}  D(G(z)) {:.2}",
                    last[0], last[1], last[2], last[3]
                ));
                if let (None, Some(sign)) = (&collapse, log.window_means().and_then(collapse::check_losses)) {
                    collapse = Some(bar.suspend(|| record_collapse(&run_dir, &progress, sign))?);
                }
            }
            if checkpoint_now {
                log.flush()?;
                checkpoint::save(&checkpoint_path(&run_dir), &config, &progress, &noise_rng, &trainer)?;
                last_save = Instant::now();
            }
            fault::point("step");
            if stop {
                stopped_early = progress.batch < steps || progress.epoch + 1 < config.epochs;
                break;
            }
        }
        bar.finish_and_clear();
        // One line per epoch, also where no progress bar is drawn (logs, CI).
        let [d, g, d_real, d_fake] = log.take_means();
        let stage = trainer.stage().map(|s| format!(", at {s}")).unwrap_or_default();
        println!(
            "epoch {}/{}: D {d:.3}  G {g:.3}  D(x) {d_real:.2}  D(G(z)) {d_fake:.2}  ({:.0} s elapsed{stage})",
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
            let grid = generate_grid(&trainer.sampler(), &grid_noise, dim, side, &device)?;
            write_png(&run_dir.join("samples").join(&name), &grid, 2)?;
        }
        let due = |every: usize| every > 0 && (progress.epoch % every == 0 || last_epoch);
        if let Some(evaluator) = evaluator.as_ref().filter(|_| epoch_done && due(config.eval_every) || stopped_early) {
            let measured = Instant::now();
            let metrics = evaluator.generator(&trainer.sampler(), &config.model, config.eval_samples, config.seed)?;
            println!("  {}  ({:.1} s)", metrics.summary(), measured.elapsed().as_secs_f64());
            // Digits are judged on whole epochs only: a short try's are not yet formed.
            let sign = epoch_done.then(|| collapse::check_metrics(&metrics, progress.epoch)).flatten();
            if let (None, Some(sign)) = (&collapse, sign) {
                collapse = Some(record_collapse(&run_dir, &progress, sign)?);
            }
            let epochs = progress.epoch as f64 + progress.batch as f64 / steps as f64;
            let measured_side = trainer.stage().map_or(side, |s| s.side());
            metrics_log.append(progress.step, epochs, &metrics, collapse.is_some(), measured_side)?;
        }
        log.flush()?;
        checkpoint::save(&checkpoint_path(&run_dir), &config, &progress, &noise_rng, &trainer)?;
        last_save = Instant::now();
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
    if let Some(stage) = trainer.stage().filter(|_| trainer.generator.grown().is_none()) {
        println!(
            "stopped after {} steps while growing, at {stage}: weights files hold fully grown networks only, \
             so none were written; continue with --resume {} --epochs N",
            progress.step,
            run_dir.display()
        );
        return Ok(());
    }
    // The moving average, if the recipe keeps one: what the grids and metrics showed.
    let generator = weights::save_generator(&trainer.sampler(), &config.model, Some(facts.clone()), Precision::F32)?;
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
    match &config.export {
        // A short try never replaces the demo's weights, which someone trained for hours.
        Some(export) if stopped_early && *export == default_export(kind) => println!(
            "not exported: a --max-steps try never replaces {}; pass --export FILE to keep its generator",
            export.display()
        ),
        Some(export) => export_generator(export, &run_dir, &device, trainer, collapse.as_ref(), &config.model, facts)?,
        None => {}
    }
    Ok(())
}

/// Copies the final generator (f16) and its discriminator where the web demo
/// finds them; after a collapse, those of the last good checkpoint.
fn export_generator(
    export: &Path,
    run_dir: &Path,
    device: &Device,
    trainer: GanTrainer,
    collapse: Option<&Collapse>,
    model: &ModelConfig,
    facts: TrainingFacts,
) -> anyhow::Result<()> {
    // A collapsed generator is not worth shipping: export the last good one.
    let good = run_dir.join(GOOD_CHECKPOINT);
    let (exported, facts) = match collapse {
        Some(c) if good.exists() => {
            let restored = checkpoint::load(&good, device)?;
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
    let half = weights::save_generator(&exported.sampler(), model, Some(facts), Precision::F16)?;
    let half_d = weights::save_discriminator(&exported.discriminator.valid(), model, Precision::F16)?;
    let name = export.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let export_d = export.with_file_name(weights::discriminator_file_name(&name));
    files::write_atomic(export, &half)?;
    files::write_atomic(&export_d, &half_d)?;
    println!(
        "exported the generator (f16) for the web demo to {}, its discriminator to {}",
        export.display(),
        export_d.display()
    );
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
