//! What a run leaves at its end: its weights files, and the copy for the web
//! demo (after a collapse, the last good checkpoint's).

use std::path::Path;

use burn::prelude::*;
use shared::weights::{self, Precision, TrainingFacts};
use shared::{Discriminator, Generator, ModelConfig};

use super::Run;
use super::checkpoint;
use super::config::default_export;
use super::folder::GOOD_CHECKPOINT;
use crate::files;
use crate::metrics::collapse::Collapse;

impl Run {
    /// Writes the weights files and exports them, unless growing is unfinished.
    pub(super) fn finish(self, stopped_early: bool) -> anyhow::Result<()> {
        let elapsed = self.started.elapsed().as_secs_f64();
        let (config, progress, trainer) = (self.config, self.progress, self.trainer);
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
                self.run_dir.display()
            );
            return Ok(());
        }
        // The moving average, if the recipe keeps one: what the grids and metrics
        // showed. Drawn once: recalibrating it takes seconds.
        let models = (trainer.sampler(), trainer.discriminator.valid());
        let generator = weights::save_generator(&models.0, &config.model, Some(facts.clone()), Precision::F32)?;
        let discriminator = weights::save_discriminator(&models.1, &config.model, Precision::F32)?;
        files::write_atomic(&self.run_dir.join("generator.safetensors"), &generator)?;
        files::write_atomic(&self.run_dir.join("discriminator.safetensors"), &discriminator)?;
        println!(
            "{} after {} steps ({:.1} epochs) in {elapsed:.0} s; weights in {}",
            if stopped_early { "stopped" } else { "done" },
            progress.step,
            progress.step as f64 / self.epochs.steps_per_epoch() as f64,
            self.run_dir.join("generator.safetensors").display()
        );
        let kind = config.model.kind();
        match &config.export {
            // A short try never replaces the demo's weights, which someone trained for hours.
            Some(export) if stopped_early && *export == default_export(kind) => println!(
                "not exported: a --max-steps try never replaces {}; pass --export FILE to keep its generator",
                export.display()
            ),
            Some(export) => export_generator(
                export,
                &self.run_dir,
                &self.device,
                models,
                self.collapse.as_ref(),
                &config.model,
                facts,
            )?,
            None => {}
        }
        Ok(())
    }
}

/// Copies the final generator (f16) and its discriminator where the web demo
/// finds them (`models`: the final sampler and discriminator); after a
/// collapse, those of the last good checkpoint.
fn export_generator(
    export: &Path,
    run_dir: &Path,
    device: &Device,
    models: (Generator, Discriminator),
    collapse: Option<&Collapse>,
    model: &ModelConfig,
    facts: TrainingFacts,
) -> anyhow::Result<()> {
    // A collapsed generator is not worth shipping: export the last good one.
    let good = run_dir.join(GOOD_CHECKPOINT);
    let ((generator, discriminator), facts) = match collapse {
        Some(c) if good.exists() => {
            let restored = checkpoint::load(&good, device)?;
            println!(
                "the run collapsed at epoch {}: exporting the models of epoch {} instead",
                c.epoch, restored.progress.epoch
            );
            let facts = TrainingFacts { epochs: restored.progress.epoch, steps: restored.progress.step, ..facts };
            ((restored.trainer.sampler(), restored.trainer.discriminator.valid()), facts)
        }
        _ => (models, facts),
    };
    // Half the download for the web page; BatchNorm statistics stay f32.
    // The discriminator goes beside it, for fine-tuning in the page.
    let half = weights::save_generator(&generator, model, Some(facts), Precision::F16)?;
    let half_d = weights::save_discriminator(&discriminator, model, Precision::F16)?;
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
