//! What defines a run: the `train` command line and `config.json`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};
use shared::growth::{DEFAULT_PHASE_IMAGES, Schedule};
use shared::{LossKind, ModelConfig, ModelKind, Recipe};

use crate::backend::Backend;
use crate::{DataArgs, ModelArg, data, ema_decay, learning_rate, whole};

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

/// The losses `--loss` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    /// The post's Sigmoid + BCELoss.
    SigmoidBce,
    /// The same BCE computed from logits, without saturating.
    Bce,
    /// The hinge loss: margins of 1, no labels (real labels are then 1).
    Hinge,
}

impl From<LossArg> for LossKind {
    fn from(loss: LossArg) -> Self {
        match loss {
            LossArg::SigmoidBce => LossKind::SigmoidBce,
            LossArg::Bce => LossKind::BceWithLogits,
            LossArg::Hinge => LossKind::Hinge,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// The post's: the conv stack at full depth (32x32) from the first step.
    Fixed,
    /// Progressive growing: from 4x4, doubling to 32x32 (pggan only).
    Progressive,
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
    #[arg(long, value_parser = whole::<1, 10_000>)]
    pub epochs: Option<usize>,
    /// Images per batch (2 to 4096) [default: 64]
    #[arg(long, conflicts_with = "resume", value_parser = whole::<2, 4096>)]
    pub batch_size: Option<usize>,
    /// Adam learning rate [default: the recipe's, 2e-4]
    #[arg(long, conflicts_with = "resume", value_parser = learning_rate)]
    pub lr: Option<f64>,
    /// Size of the latent vector [default: 100]
    #[arg(long, conflicts_with = "resume", value_parser = whole::<1, 4096>)]
    pub latent_dim: Option<usize>,
    /// Decay of the generator's moving average, which is drawn, measured and
    /// exported, e.g. 0.999 (0: none, the trained generator itself) [default: 0]
    #[arg(long, value_name = "DECAY", conflicts_with = "resume", value_parser = ema_decay)]
    pub ema_decay: Option<f64>,
    /// How the conv stack trains: at full depth, or growing from 4x4 [default: fixed]
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub schedule: Option<ScheduleArg>,
    /// Progressive schedule: images over which each new block fades in [default: 5000]
    #[arg(long, value_name = "N", conflicts_with = "resume", value_parser = whole::<0, 100_000_000>)]
    pub fade_images: Option<usize>,
    /// Progressive schedule: images trained at each resolution once its block has faded in [default: 5000]
    #[arg(long, value_name = "N", conflicts_with = "resume", value_parser = whole::<0, 100_000_000>)]
    pub stable_images: Option<usize>,
    /// The loss [default: the recipe's: bce for stable, sigmoid-bce for post]
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub loss: Option<LossArg>,
    /// PGGAN: D's last block also sees the batch's standard deviation (one
    /// more input channel; its weights file then no longer fits the post's D)
    #[arg(long, conflicts_with = "resume")]
    pub minibatch_stddev: bool,
    /// PGGAN: equalised learning rate, weights stored divided by He's
    /// constant (weights files get it folded back in)
    #[arg(long, conflicts_with = "resume")]
    pub equalized_lr: bool,
    /// Seed of initial weights, data order and noise [default: 0]
    #[arg(long, conflicts_with = "resume")]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder [default: runs/<model>]
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub run_dir: Option<PathBuf>,
    /// Write a sample grid every N epochs (and after the last) [default: 1]
    #[arg(long, value_name = "N", value_parser = whole::<1, 10_000>)]
    pub sample_every: Option<usize>,
    /// Device to train on.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Continue the run in this folder exactly where its checkpoint left off.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<PathBuf>,
    /// Measure FID, IS and digit coverage every N epochs (and after the last); 0: never [default: 2]
    #[arg(long, value_name = "N", value_parser = whole::<0, 10_000>)]
    pub eval_every: Option<usize>,
    /// Samples each measurement draws (2 to 100,000) [default: 10000]
    #[arg(long, value_name = "N", value_parser = whole::<2, 100_000>)]
    pub eval_samples: Option<usize>,
    /// Stop after this many steps in all (a short try, or a smoke test).
    #[arg(long, value_name = "STEPS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_steps: Option<u64>,
    /// Also save a checkpoint every N steps, not only at each epoch's end
    /// [default: about every 5 minutes of training]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: Option<u64>,
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
    /// Steps between checkpoints within an epoch; `None`: about every 5 minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<u64>,
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

pub(super) fn new_config(args: &TrainArgs) -> anyhow::Result<(RunConfig, PathBuf)> {
    let kind: ModelKind = args.model.unwrap_or(ModelArg::Gan).into();
    let mut model = ModelConfig::post(kind);
    if let Some(dim) = args.latent_dim {
        match &mut model {
            ModelConfig::Gan(c) => c.latent_dim = dim,
            ModelConfig::Pggan(c) => c.latent_dim = dim,
        }
    }
    model.validate().map_err(|e| anyhow::anyhow!("--latent-dim: {e}"))?;
    let conv_only =
        |flag: &str| anyhow::anyhow!("{flag} is a training aid of the conv stack: use it with --model pggan");
    match &mut model {
        ModelConfig::Pggan(c) => c.minibatch_stddev = args.minibatch_stddev,
        ModelConfig::Gan(_) if args.minibatch_stddev => return Err(conv_only("--minibatch-stddev")),
        ModelConfig::Gan(_) if args.equalized_lr => return Err(conv_only("--equalized-lr")),
        ModelConfig::Gan(_) => {}
    }
    let mut recipe = args.recipe.unwrap_or(RecipeArg::Stable).recipe();
    recipe.equalized_lr = args.equalized_lr;
    if let Some(loss) = args.loss {
        recipe.loss = loss.into();
        if recipe.loss == LossKind::Hinge {
            recipe.real_label = 1.0;
        }
    }
    if let Some(lr) = args.lr {
        recipe.lr = lr;
    }
    if let Some(decay) = args.ema_decay {
        recipe.ema_decay = decay;
    }
    recipe.schedule = schedule(args, kind)?;
    // At least 2 (BatchNorm needs two images): the parser checked.
    let batch_size = args.batch_size.unwrap_or(64);
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
        sample_every: args.sample_every.unwrap_or(1),
        eval_every: args.eval_every.unwrap_or(2),
        eval_samples: args.eval_samples.unwrap_or_else(default_eval_samples),
        data_dir: data::data_dir(&args.data),
        max_steps: args.max_steps,
        export,
        checkpoint_every: args.checkpoint_every,
    };
    let run_dir = args.run_dir.clone().unwrap_or_else(|| PathBuf::from("runs").join(kind.name()));
    Ok((config, run_dir))
}

fn schedule(args: &TrainArgs, kind: ModelKind) -> anyhow::Result<Schedule> {
    let sizes_given = args.fade_images.is_some() || args.stable_images.is_some();
    match args.schedule.unwrap_or(ScheduleArg::Fixed) {
        ScheduleArg::Fixed if sizes_given => {
            anyhow::bail!("--fade-images and --stable-images need --schedule progressive")
        }
        ScheduleArg::Fixed => Ok(Schedule::Fixed),
        ScheduleArg::Progressive if kind != ModelKind::Pggan => {
            anyhow::bail!("--schedule progressive grows the conv stack: use it with --model pggan")
        }
        ScheduleArg::Progressive => Ok(Schedule::Progressive {
            fade_images: args.fade_images.map_or(DEFAULT_PHASE_IMAGES, |n| n as u64),
            stable_images: args.stable_images.map_or(DEFAULT_PHASE_IMAGES, |n| n as u64),
        }),
    }
}

/// The configuration of a resumed run, with what this command line changes.
pub(super) fn resumed(mut config: RunConfig, args: &TrainArgs) -> RunConfig {
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(every) = args.sample_every {
        config.sample_every = every;
    }
    if let Some(every) = args.eval_every {
        config.eval_every = every;
    }
    if let Some(samples) = args.eval_samples {
        config.eval_samples = samples;
    }
    if args.checkpoint_every.is_some() {
        config.checkpoint_every = args.checkpoint_every;
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
    config
}

/// Where the web demo looks for a model's generator.
pub fn default_export(kind: ModelKind) -> PathBuf {
    PathBuf::from("web").join("weights").join(format!("{kind}.safetensors"))
}
