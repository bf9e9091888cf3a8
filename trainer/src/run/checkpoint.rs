//! A checkpoint is one file holding all that exact resume needs: G and D
//! (burn module records, which keep the parameter ids the optimiser state is
//! keyed by), both Adam states, G's moving average, the counters and the
//! noise RNG's state.
//! MessagePack around burn's own record bytes; written atomically.

use std::path::Path;

use anyhow::{Context, bail};
use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use shared::GanTrainer;
use shared::growth::Stage;

use super::config::RunConfig;
use crate::{fault, files};

const MAGIC: &str = "mnist-gan checkpoint";
const VERSION: u32 = 1;

/// Where a run stands: the next batch to train is `batch` of epoch `epoch`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub epoch: usize,
    pub batch: usize,
    pub step: u64,
    /// Training images seen, which decide where growing stands.
    #[serde(default)]
    pub images: u64,
}

#[derive(Serialize, Deserialize)]
struct File {
    magic: String,
    version: u32,
    config: RunConfig,
    progress: Progress,
    #[serde(with = "serde_bytes")]
    noise_rng: Vec<u8>,
    #[serde(with = "serde_bytes")]
    generator: Vec<u8>,
    #[serde(with = "serde_bytes")]
    discriminator: Vec<u8>,
    #[serde(with = "serde_bytes")]
    optimizer_g: Vec<u8>,
    #[serde(with = "serde_bytes")]
    optimizer_d: Vec<u8>,
    /// The generator's moving average and its update count, if the recipe keeps one.
    #[serde(default)]
    average: Option<Average>,
    /// Where growing stood, for the record (the images seen decide it).
    #[serde(default)]
    stage: Option<Stage>,
}

#[derive(Serialize, Deserialize)]
struct Average {
    #[serde(with = "serde_bytes")]
    generator: Vec<u8>,
    updates: u64,
}

pub fn save(
    path: &Path,
    config: &RunConfig,
    progress: &Progress,
    noise_rng: &ChaCha8Rng,
    trainer: &GanTrainer,
) -> anyhow::Result<()> {
    let (opt_g, opt_d) = trainer.optimizer_records();
    let file = File {
        magic: MAGIC.into(),
        version: VERSION,
        config: config.clone(),
        progress: progress.clone(),
        noise_rng: noise_rng.serialize_state().to_vec(),
        // `valid()` folds in BatchNorm's pending running-statistics update,
        // which a record of the training module would miss (ids are kept).
        generator: trainer.generator.valid().into_record().into_bytes()?.to_vec(),
        discriminator: trainer.discriminator.valid().into_record().into_bytes()?.to_vec(),
        optimizer_g: opt_g.into_bytes()?.to_vec(),
        optimizer_d: opt_d.into_bytes()?.to_vec(),
        average: match &trainer.average {
            Some(a) => Some(Average {
                generator: a.generator.clone().into_record().into_bytes()?.to_vec(),
                updates: a.updates,
            }),
            None => None,
        },
        stage: trainer.stage(),
    };
    let bytes = rmp_serde::to_vec_named(&file).context("encoding the checkpoint")?;
    files::write_atomic_then_rename(path, &bytes, || fault::point("checkpoint-rename"))
}

/// A checkpoint read back into a trainer on `device` (with autodiff).
pub struct Restored {
    pub config: RunConfig,
    pub progress: Progress,
    pub noise_rng: ChaCha8Rng,
    pub trainer: GanTrainer,
}

pub fn load(path: &Path, device: &Device) -> anyhow::Result<Restored> {
    let bytes = files::read(path)?;
    let what = || format!("{} is not a readable mnist-gan checkpoint", path.display());
    let file: File = rmp_serde::from_slice(&bytes).with_context(what)?;
    if file.magic != MAGIC {
        bail!("{}: expected a checkpoint header {MAGIC:?}, found {:?}", path.display(), file.magic);
    }
    if file.version != VERSION {
        bail!("{}: checkpoint version {} (this trainer reads version {VERSION})", path.display(), file.version);
    }
    let rng_state: [u8; 49] =
        file.noise_rng.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("{}: RNG state is {} bytes, expected 49", path.display(), file.noise_rng.len())
        })?;
    // Checked before anything is built for it, like a weights file's header.
    file.config
        .model
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: invalid model in the checkpoint: {e}", path.display()))?;
    let device = device.clone().autodiff();
    let record = |b: Vec<u8>| ModuleRecord::from_bytes(Bytes::from_bytes_vec(b));
    let (model, recipe) = (&file.config.model, &file.config.recipe);
    let (generator, discriminator) = recipe.init_models(model, 0, &device);
    let generator = generator.try_load_record(record(file.generator)?).with_context(what)?;
    let discriminator = discriminator.try_load_record(record(file.discriminator)?).with_context(what)?;
    let mut trainer = GanTrainer::from_models(generator, discriminator, file.config.recipe.clone());
    let optimizer = |b: Vec<u8>| OptimizerRecord::from_bytes(Bytes::from_bytes_vec(b));
    trainer.load_optimizer_records(optimizer(file.optimizer_g)?, optimizer(file.optimizer_d)?);
    match (&mut trainer.average, file.average) {
        (Some(average), Some(saved)) => {
            average.generator =
                average.generator.clone().try_load_record(record(saved.generator)?).with_context(what)?;
            average.updates = saved.updates;
        }
        (None, None) => {}
        _ => bail!("{}: the checkpoint's moving average does not match its recipe", path.display()),
    }
    trainer.set_images_seen(file.progress.images);
    Ok(Restored {
        config: file.config,
        progress: file.progress,
        noise_rng: ChaCha8Rng::deserialize_state(&rng_state),
        trainer,
    })
}

/// Only the counters of a checkpoint (e.g. which epoch it holds).
pub fn read_progress(path: &Path) -> anyhow::Result<Progress> {
    #[derive(Deserialize)]
    struct Head {
        progress: Progress,
    }
    let head: Head = rmp_serde::from_slice(&files::read(path)?)
        .with_context(|| format!("{} is not a readable mnist-gan checkpoint", path.display()))?;
    Ok(head.progress)
}
