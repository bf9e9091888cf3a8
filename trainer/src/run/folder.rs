//! Files of the run folder besides the logs: where the checkpoint is, the
//! collapse record (and the good checkpoint kept with it), and the curves.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::checkpoint::{self, Progress};
use super::config::RunConfig;
use crate::files;
use crate::metrics::collapse::{Collapse, Sign};
use crate::metrics::plot;

pub(super) fn checkpoint_path(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint.mpk")
}

/// The last good checkpoint of a run that collapsed.
pub(super) const GOOD_CHECKPOINT: &str = "checkpoint-good.mpk";
const COLLAPSE_FILE: &str = "collapse.json";

/// The collapse a run folder records, if it happened by `step` (where a
/// resumed run continues from).
pub(super) fn read_collapse(run_dir: &Path, step: u64) -> anyhow::Result<Option<Collapse>> {
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
pub(super) fn record_collapse(run_dir: &Path, progress: &Progress, sign: Sign) -> anyhow::Result<Collapse> {
    let checkpoint = checkpoint_path(run_dir);
    let good_epoch = match checkpoint.exists() {
        true => {
            let epoch = checkpoint::read_progress(&checkpoint)?.epoch;
            // A copy: the run keeps its checkpoint to resume from if it dies now.
            files::write_atomic(&run_dir.join(GOOD_CHECKPOINT), &files::read(&checkpoint)?)
                .with_context(|| format!("keeping a copy of {} as {GOOD_CHECKPOINT}", checkpoint.display()))?;
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
pub(super) fn plot_curves(run_dir: &Path, config: &RunConfig, collapse: Option<&Collapse>) -> anyhow::Result<()> {
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
    let fid = super::logs::read_fid_curve(&run_dir.join("metrics.csv"))?;
    let title =
        format!("{} ({} init, {}), seed {}", config.model.kind(), config.recipe.init, config.recipe.loss, config.seed);
    plot::write(
        &run_dir.join("curves.png"),
        &title,
        &plot::Curves { losses, fid, collapse: collapse.map(|c| c.epoch as f64) },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::latent;
    use shared::{GanConfig, GanTrainer, ModelConfig, Recipe, burn::tensor::Device};

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
            checkpoint_every: None,
        };
        let saved = Progress { epoch: 3, batch: 0, step: 300, ..Progress::default() };
        checkpoint::save(&checkpoint_path(run), &config, &saved, &latent::rng(0, 0), &trainer).unwrap();

        let now = Progress { epoch: 3, batch: 50, step: 350, ..Progress::default() };
        let sign = Sign::DiscriminatorWins { d_real: 0.99, d_fake: 0.001, g_loss: 9.0 };
        let collapse = record_collapse(run, &now, sign.clone()).unwrap();
        assert_eq!(collapse, Collapse { epoch: 4, step: 350, sign, good_epoch: Some(3) });
        assert!(run.join(GOOD_CHECKPOINT).is_file());
        assert!(checkpoint_path(run).is_file(), "the run can still resume from its checkpoint");
        assert_eq!(checkpoint::read_progress(&run.join(GOOD_CHECKPOINT)).unwrap(), saved);
        // A resumed run knows of it once it is past that step, not before.
        assert_eq!(read_collapse(run, 400).unwrap(), Some(collapse));
        assert_eq!(read_collapse(run, 300).unwrap(), None);
    }
}
