//! The "Train here" run without the DOM: its settings, its state machine, its
//! batches, and the loop that drives it ([`drive`]): one [`Run::step`] per
//! turn of the browser's event loop, the losses read back asynchronously and
//! reported, the preview redrawn. The page drives it on WebGPU, its training
//! worker (`web/train-worker`) on the CPU, off the page's main thread; the
//! step itself is `shared`'s, the trainer's very own.

mod chart;
mod drive;

pub use chart::{LossChart, Plot};
pub use drive::{Event, Progress, Report, drive};

use std::ops::RangeInclusive;

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use shared::draw::weights_url;
use shared::epochs::Epochs;
use shared::growth::{DEFAULT_PHASE_IMAGES, Schedule, Stage};
use shared::latent::{self, ChaCha8Rng, stream};
use shared::mnist::{Images, SizedImages};
use shared::weights::{self, Precision, TrainingFacts};
use shared::{Discriminator, GanTrainer, Generator, ModelConfig, ModelKind, Recipe};

/// The MNIST subset shipped with the page: the 10,000 test images, as
/// distributed (gzip IDX), fetched when the panel is first opened.
pub const DATA_URL: &str = "data/t10k-images-idx3-ubyte.gz";
pub const STEPS: RangeInclusive<usize> = 1..=20_000;
pub const BATCH_SIZES: RangeInclusive<usize> = 1..=256;
pub const LEARNING_RATES: RangeInclusive<f64> = 1e-6..=1e-2;
/// Steps whose losses are read back together: one transfer instead of five.
pub const READBACK_EVERY: usize = 5;
/// The preview grid is redrawn every this many steps (and after the first,
/// to show where the digits start from, and at the end).
pub const PREVIEW_EVERY: usize = 20;
/// How the conv model grows in the page: as the trainer does by default, so
/// that a run of a few hundred steps shows every resolution (full size after
/// 30,000 images, 469 steps of 64).
pub const PAGE_GROWTH: Schedule =
    Schedule::Progressive { fade_images: DEFAULT_PHASE_IMAGES, stable_images: DEFAULT_PHASE_IMAGES };

/// Where the page fetches the discriminator trained with the shipped
/// generator, for fine-tuning (see `trainer`'s export).
pub fn discriminator_url(kind: ModelKind) -> String {
    format!("weights/{}", shared::weights::discriminator_file_name(&format!("{kind}.safetensors")))
}

/// The shipped generator and discriminator of `kind`, loaded onto the
/// autodiff `device` for fine-tuning. Errors name the file.
pub fn fine_tuning_models(
    kind: ModelKind,
    generator: &[u8],
    discriminator: &[u8],
    device: &Device,
) -> Result<(ModelConfig, Generator, Discriminator), String> {
    let (g, info) = shared::weights::load_generator(generator, Some(kind), device)
        .map_err(|e| format!("{}: {e}", weights_url(kind)))?;
    let (d, d_info) = shared::weights::load_discriminator(discriminator, Some(kind), device)
        .map_err(|e| format!("{}: {e}", discriminator_url(kind)))?;
    if d_info.model != info.model {
        return Err(format!("{} and {} describe different architectures", weights_url(kind), discriminator_url(kind)));
    }
    Ok((info.model, g, d))
}

/// A run of `kind` as the panel set it up: from fresh weights, or from the
/// shipped pair's files (fine-tuning), loaded onto `device.autodiff()`.
pub fn start_run(
    settings: Settings,
    kind: ModelKind,
    images: &Images,
    pair: Option<(&[u8], &[u8])>,
    device: &Device,
) -> Result<Run, String> {
    let (config, models) = match pair {
        None => (ModelConfig::post(kind), None),
        Some((g, d)) => {
            let (config, g, d) = fine_tuning_models(kind, g, d, &device.clone().autodiff())?;
            (config, Some((g, d)))
        }
    };
    Ok(Run::new(settings, config, images, models, device))
}

/// Where the weights of a run come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// Fresh weights, the stable recipe's initialisation.
    Scratch,
    /// The shipped generator and its discriminator (fine-tuning).
    Shipped,
}

/// What the user chose in the panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub start: Start,
    pub steps: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Seeds the initial weights, the batches and the noise.
    pub seed: u64,
    /// Growing, for the conv model from scratch; fixed for everything else.
    pub schedule: Schedule,
}

fn parse_in<T>(name: &str, text: &str, range: &RangeInclusive<T>) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let text = text.trim();
    match text.parse::<T>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(format!("{name} must be a number from {} to {}, got {text:?}", range.start(), range.end())),
    }
}

impl Settings {
    /// The panel's fields, checked.
    /// The schedule is [`Schedule::Fixed`] until [`Self::growing`] says otherwise.
    pub fn parse(start: Start, steps: &str, batch_size: &str, lr: &str, seed: u64) -> Result<Self, String> {
        Ok(Self {
            start,
            steps: parse_in("steps", steps, &STEPS)?,
            batch_size: parse_in("the batch size", batch_size, &BATCH_SIZES)?,
            lr: parse_in("the learning rate", lr, &LEARNING_RATES)?,
            seed,
            schedule: Schedule::Fixed,
        })
    }

    /// With the page's progressive schedule if `grow` and the run can grow:
    /// a conv model from scratch (shipped networks are fully grown, the MLP
    /// has no resolutions).
    pub fn growing(self, grow: bool, kind: ModelKind) -> Self {
        let can_grow = self.start == Start::Scratch && kind == ModelKind::Pggan;
        Self { schedule: if grow && can_grow { PAGE_GROWTH } else { Schedule::Fixed }, ..self }
    }

    /// The stable recipe (the trainer's default) at the chosen learning rate.
    pub fn recipe(&self) -> Recipe {
        Recipe { lr: self.lr, schedule: self.schedule, ..Recipe::stable() }
    }
}

/// Where a run stands. No run at all is the panel's idle state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Phase {
    Running,
    Paused,
    /// Stopped by the user before its last step.
    Stopped,
    /// All its steps done.
    Finished,
    /// A loss was not a number: training cannot go on.
    Failed(String),
}

impl Phase {
    /// The name the page shows and writes into `data-trainstate`.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Running => "running",
            Phase::Paused => "paused",
            Phase::Stopped => "stopped",
            Phase::Finished => "finished",
            Phase::Failed(_) => "failed",
        }
    }

    /// Over for good: a new run must be started.
    pub fn is_over(&self) -> bool {
        matches!(self, Phase::Stopped | Phase::Finished | Phase::Failed(_))
    }
}

/// The user's buttons while a run exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pause,
    Resume,
    Stop,
}

/// A training run in the page.
pub struct Run {
    pub settings: Settings,
    pub config: ModelConfig,
    trainer: GanTrainer,
    /// The data set at the model's size; batches go to `device` one at a time.
    images: SizedImages,
    device: Device,
    epochs: Epochs,
    /// Training images seen, which decide where growing stands.
    images_seen: u64,
    noise: ChaCha8Rng,
    /// Steps done.
    pub step: usize,
    phase: Phase,
    pub chart: LossChart,
    /// Losses of steps not yet read back, `[4]` each.
    pending: Vec<Tensor<1>>,
}

impl Run {
    /// A run on `images` (the MNIST subset), from fresh weights or from the
    /// given models, which must live on `device.autodiff()` (load them there:
    /// moving them would read the device synchronously, which WebGPU in the
    /// browser cannot). It starts in [`Phase::Running`].
    pub fn new(
        settings: Settings,
        config: ModelConfig,
        images: &Images,
        start: Option<(Generator, Discriminator)>,
        device: &Device,
    ) -> Self {
        let recipe = settings.recipe();
        let trainer = match start {
            None => GanTrainer::new(&config, recipe, settings.seed, device),
            Some((g, d)) => GanTrainer::from_models(g, d, recipe),
        };
        Self {
            images: images.at_side(config.image_size()),
            device: device.clone(),
            epochs: Epochs::new(settings.seed, images.count, settings.batch_size, 0, 0),
            images_seen: 0,
            noise: latent::rng(settings.seed, stream::TRAIN_NOISE),
            step: 0,
            phase: Phase::Running,
            chart: LossChart::default(),
            pending: Vec::new(),
            trainer,
            config,
            settings,
        }
    }

    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// Applies a button press, or says why it does not apply now.
    pub fn act(&mut self, action: Action) -> Result<(), String> {
        self.phase = match (&self.phase, action) {
            (Phase::Running, Action::Pause) => Phase::Paused,
            (Phase::Paused, Action::Resume) => Phase::Running,
            (Phase::Running | Phase::Paused, Action::Stop) => Phase::Stopped,
            (phase, action) => return Err(format!("cannot {action:?} a run that is {}", phase.name()).to_lowercase()),
        };
        Ok(())
    }

    /// Running, with steps left.
    pub fn wants_step(&self) -> bool {
        self.phase == Phase::Running
    }

    /// One training step (the trainer's), its losses kept on the device until
    /// [`Self::take_losses`]. The last step finishes the run.
    pub fn step(&mut self) {
        if !self.wants_step() {
            return;
        }
        let indices = self.epochs.next_batch();
        self.images_seen += indices.len() as u64;
        let (real, z) =
            shared::train::batch(&self.images, indices, &mut self.noise, self.config.latent_dim(), &self.device);
        self.pending.push(self.trainer.step(real, z).stacked());
        self.trainer.set_images_seen(self.images_seen);
        self.step += 1;
        if self.step == self.settings.steps {
            self.phase = Phase::Finished;
        }
    }

    /// Losses to read back: after the first step (the chart and the steps/s
    /// figure start from there), every [`READBACK_EVERY`] steps, and whenever
    /// the run is no longer running. `[4 * steps]`: D, G, D(x), D(G(z)) per step.
    pub fn take_losses(&mut self) -> Option<Tensor<1>> {
        let due = self.pending.len() >= READBACK_EVERY
            || (!self.pending.is_empty() && (self.step == 1 || !self.wants_step()));
        due.then(|| Tensor::cat(std::mem::take(&mut self.pending), 0))
    }

    /// Records losses read back from [`Self::take_losses`]. A loss that is not
    /// a number fails the run, and says at which step.
    pub fn record(&mut self, values: &[f32]) -> Result<(), String> {
        let steps = values.len() / 4;
        let first = self.step - self.pending.len() - steps + 1;
        for (i, step) in values.chunks_exact(4).enumerate() {
            if !step.iter().all(|v| v.is_finite()) {
                let message = format!("the losses are not numbers at step {}: training diverged", first + i);
                self.phase = Phase::Failed(message.clone());
                return Err(message);
            }
            self.chart.push(step[0], step[1]);
        }
        Ok(())
    }

    /// Ends the run: its losses could not be read back.
    pub fn fail(&mut self, message: String) {
        self.phase = Phase::Failed(message);
    }

    /// Where it stands, with the losses charted from step `from` on.
    pub fn report(&self, from: usize) -> Report {
        let new = |values: &[f32]| values.get(from..).unwrap_or_default().to_vec();
        Report {
            step: self.step,
            phase: self.phase.clone(),
            stage: self.stage(),
            d: new(&self.chart.d),
            g: new(&self.chart.g),
        }
    }

    /// The preview is due after this step.
    pub fn preview_due(&self) -> bool {
        self.step == 1 || self.step.is_multiple_of(PREVIEW_EVERY) || self.phase.is_over() || self.phase == Phase::Paused
    }

    /// Where growing stands, for a growing run.
    pub fn stage(&self) -> Option<Stage> {
        self.trainer.stage()
    }

    /// Where the run trains (without autodiff), which the page's may have left since.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The generator as it is now, for drawing (no autodiff).
    pub fn generator(&self) -> Generator {
        self.trainer.generator.valid()
    }

    /// What the weights header says about this run.
    pub fn facts(&self) -> TrainingFacts {
        TrainingFacts {
            recipe: self.trainer.recipe.clone(),
            seed: self.settings.seed,
            batch_size: self.settings.batch_size,
            epochs: self.step / self.epochs.steps_per_epoch(),
            steps: self.step as u64,
        }
    }

    /// The generator as it is now, as a weights file (f32) with the run's
    /// facts, which `trainer sample` reads; read back asynchronously, as
    /// WebGPU must be in a browser.
    pub fn weights_file(&self) -> impl Future<Output = Result<Vec<u8>, String>> + 'static + use<> {
        let (generator, config, facts) = (self.generator(), self.config.clone(), self.facts());
        async move {
            weights::save_generator_async(&generator, &config, Some(facts), Precision::F32, &Device::flex())
                .await
                .map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests;
