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
mod tests {
    use super::*;

    fn settings(steps: usize, batch_size: usize) -> Settings {
        Settings { start: Start::Scratch, steps, batch_size, lr: 2e-4, seed: 0, schedule: Schedule::Fixed }
    }

    fn images(count: usize) -> Images {
        // Distinct, digit-free images: a bright bar at a different row each.
        let mut pixels = vec![0u8; count * 784];
        for i in 0..count {
            pixels[i * 784 + (i % 28) * 28..][..28].fill(255);
        }
        Images { count, pixels }
    }

    #[test]
    fn settings_are_checked_with_what_was_expected() {
        let s = Settings::parse(Start::Shipped, " 200", "64", "2e-4", 5).unwrap();
        let fixed = Schedule::Fixed;
        assert_eq!(
            s,
            Settings { start: Start::Shipped, steps: 200, batch_size: 64, lr: 2e-4, seed: 5, schedule: fixed }
        );
        assert_eq!(s.recipe(), Recipe { lr: 2e-4, ..Recipe::stable() });
        // Only a conv model from scratch grows.
        assert_eq!(s.clone().growing(true, ModelKind::Pggan).schedule, fixed, "shipped networks are grown");
        let scratch = Settings { start: Start::Scratch, ..s };
        assert_eq!(scratch.clone().growing(true, ModelKind::Gan).schedule, fixed);
        assert_eq!(scratch.clone().growing(false, ModelKind::Pggan).schedule, fixed);
        let grown = scratch.growing(true, ModelKind::Pggan);
        assert_eq!(grown.recipe(), Recipe { lr: 2e-4, schedule: PAGE_GROWTH, ..Recipe::stable() });
        assert_eq!(
            Settings::parse(Start::Scratch, "0", "64", "2e-4", 0).unwrap_err(),
            "steps must be a number from 1 to 20000, got \"0\""
        );
        assert!(Settings::parse(Start::Scratch, "10", "1000", "2e-4", 0).unwrap_err().starts_with("the batch size"));
        assert!(Settings::parse(Start::Scratch, "10", "8", "fast", 0).unwrap_err().starts_with("the learning rate"));
        assert!(Settings::parse(Start::Scratch, "10", "8", "0.5", 0).is_err());
    }

    #[test]
    fn a_conv_run_from_scratch_grows_from_4x4() {
        let device = Device::flex();
        let schedule = Schedule::Progressive { fade_images: 16, stable_images: 16 };
        let settings = Settings { schedule, ..settings(3, 8) };
        let mut run = Run::new(settings, ModelConfig::post(ModelKind::Pggan), &images(16), None, &device);
        assert_eq!(run.stage().unwrap().to_string(), "4x4");
        run.step();
        run.step();
        assert_eq!(run.stage().unwrap().to_string(), "fading in 8x8 (0 %)");
        run.step();
        assert_eq!(run.stage().unwrap().to_string(), "fading in 8x8 (50 %)");
        assert_eq!(run.phase(), &Phase::Finished);
        assert!(run.facts().recipe.schedule.is_progressive(), "the header says it grew");
        // The preview draws at full size, the stage upsampled.
        let z = latent::to_tensor(latent::noise(0, 2, 100), 100, &device);
        assert_eq!(run.generator().generate(z).dims(), [2, 1, 32, 32]);
    }

    #[test]
    fn a_run_moves_through_its_phases() {
        let device = Device::flex();
        let config = ModelConfig::post(ModelKind::Gan);
        let mut run = Run::new(settings(12, 4), config, &images(10), None, &device);
        assert_eq!(run.phase(), &Phase::Running);
        assert_eq!(run.act(Action::Resume).unwrap_err(), "cannot resume a run that is running");
        run.step();
        run.act(Action::Pause).unwrap();
        assert!(!run.wants_step());
        run.step(); // ignored while paused
        assert_eq!(run.step, 1);
        assert!(run.preview_due(), "a pause shows the digits as they are");
        // What was pending is read back while paused.
        let losses = run.take_losses().expect("a paused run hands its losses over");
        assert_eq!(losses.dims(), [4]);
        run.record(&losses.into_data().try_to_vec::<f32>().unwrap()).unwrap();
        run.act(Action::Resume).unwrap();
        // 10 images in batches of 4: three batches per epoch, the last of 2.
        while run.wants_step() {
            run.step();
            if let Some(l) = run.take_losses() {
                run.record(&l.into_data().try_to_vec::<f32>().unwrap()).unwrap();
            }
        }
        assert_eq!(run.phase(), &Phase::Finished);
        assert_eq!(run.step, 12);
        assert_eq!(run.chart.len(), 12, "every step's losses are charted once");
        assert!(run.chart.d.iter().chain(&run.chart.g).all(|v| v.is_finite() && *v > 0.0));
        assert_eq!(run.facts().steps, 12);
        assert_eq!(run.facts().epochs, 4, "12 steps of 3 batches per epoch");
        assert!(run.act(Action::Stop).is_err(), "a finished run cannot be stopped");

        let mut run = Run::new(settings(100, 4), ModelConfig::post(ModelKind::Gan), &images(10), None, &device);
        run.step();
        run.act(Action::Stop).unwrap();
        assert!(run.phase().is_over() && !run.wants_step());
        assert_eq!(run.act(Action::Pause).unwrap_err(), "cannot pause a run that is stopped");
    }

    #[test]
    fn training_changes_the_generator_and_a_seed_repeats_it() {
        let device = Device::flex();
        let config = ModelConfig::post(ModelKind::Gan);
        let z = latent::to_tensor(latent::noise(0, 2, 100), 100, &device);
        let run_once = |seed| {
            let mut run = Run::new(Settings { seed, ..settings(3, 8) }, config.clone(), &images(16), None, &device);
            let before = run.generator().generate(z.clone()).into_data().try_to_vec::<f32>().unwrap();
            while run.wants_step() {
                run.step();
            }
            (before, run.generator().generate(z.clone()).into_data().try_to_vec::<f32>().unwrap())
        };
        let (before, after) = run_once(1);
        assert_ne!(before, after, "three steps moved the generator");
        assert_eq!(run_once(1).1, after, "the same seed trains the same weights");
        assert_ne!(run_once(2).1, after);
    }

    #[test]
    fn fine_tuning_starts_from_the_given_models() {
        let device = Device::flex();
        let config = ModelConfig::post(ModelKind::Gan);
        let (g, d) = config.init(shared::InitScheme::Dcgan, 9, &device.clone().autodiff());
        let z = latent::to_tensor(latent::noise(0, 2, 100), 100, &device);
        let given = g.valid().generate(z.clone()).into_data().try_to_vec::<f32>().unwrap();
        let run = Run::new(settings(5, 4), config, &images(8), Some((g, d)), &device);
        assert_eq!(run.generator().generate(z).into_data().try_to_vec::<f32>().unwrap(), given);
    }

    #[test]
    fn a_diverged_run_fails_and_names_the_step() {
        let device = Device::flex();
        let mut run = Run::new(settings(100, 2), ModelConfig::post(ModelKind::Gan), &images(4), None, &device);
        for _ in 0..READBACK_EVERY {
            run.step();
        }
        let mut values = run.take_losses().unwrap().into_data().try_to_vec::<f32>().unwrap();
        values[4 * 2 + 1] = f32::NAN; // G's loss at step 3
        assert_eq!(run.record(&values).unwrap_err(), "the losses are not numbers at step 3: training diverged");
        assert_eq!(run.phase().name(), "failed");
        assert_eq!(run.chart.len(), 2);
        assert!(!run.wants_step());
    }

    #[test]
    fn fine_tuning_loads_the_shipped_pair_and_refuses_a_mismatch() {
        let device = Device::flex().autodiff();
        let config = ModelConfig::post(ModelKind::Gan);
        let (g, d) = config.init(shared::InitScheme::Dcgan, 0, &device);
        let g_bytes =
            shared::weights::save_generator(&g.valid(), &config, None, shared::weights::Precision::F32).unwrap();
        let d_bytes =
            shared::weights::save_discriminator(&d.valid(), &config, shared::weights::Precision::F32).unwrap();
        let (loaded, _, _) = fine_tuning_models(ModelKind::Gan, &g_bytes, &d_bytes, &device).unwrap();
        assert_eq!(loaded, config);
        // Both shipped pairs, as the page fetches them.
        for kind in ModelKind::ALL {
            let read = |url: String| std::fs::read(format!("{}/../{url}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let (g, d) = (read(weights_url(kind)), read(discriminator_url(kind)));
            let (loaded, _, _) = fine_tuning_models(kind, &g, &d, &device).unwrap();
            assert_eq!(loaded, ModelConfig::post(kind));
        }
        let err = fine_tuning_models(ModelKind::Gan, &g_bytes, &g_bytes, &device).err().unwrap();
        assert_eq!(
            err,
            "weights/gan-discriminator.safetensors: this file holds a gan generator, expected a gan discriminator"
        );
    }

    /// What the page's panel sees of a run driven to its end, wherever it ran.
    #[test]
    fn a_driven_run_reports_every_step_and_previews() {
        let device = Device::flex();
        let config = ModelConfig::post(ModelKind::Gan);
        let run = std::cell::RefCell::new(Run::new(settings(12, 2), config, &images(8), None, &device));
        let mut progress = Progress::new(settings(12, 2));
        let (mut reports, mut previews) = (0, 0);
        let turns = std::cell::Cell::new(0);
        let show = |event: Event| match event {
            Event::Report(report) => {
                // Through JSON, as the worker sends it.
                let json = serde_json::to_string(&report).unwrap();
                progress.apply(serde_json::from_str(&json).unwrap());
                reports += 1;
            }
            Event::Preview(picture) => {
                assert_eq!(picture.unwrap().width, 242);
                previews += 1;
            }
        };
        pollster::block_on(drive(&run, show, || {
            turns.set(turns.get() + 1);
            async {}
        }));
        let run = run.into_inner();
        assert_eq!(progress.phase, Phase::Finished);
        assert_eq!((progress.step, progress.chart.len()), (12, 12));
        assert_eq!(progress.chart, run.chart, "the page's chart is the run's");
        // After step 1, then every READBACK_EVERY steps, then the rest at the end.
        assert_eq!(reports, 1 + 12 / READBACK_EVERY + 1);
        // Step 1, the end (step 12 is not a multiple of PREVIEW_EVERY).
        assert_eq!(previews, 2);
        assert_eq!(turns.get(), 11, "one turn of the event loop between steps");
    }
}
