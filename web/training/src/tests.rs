//! The run without the DOM, tested on the host: settings, phases, steps, growth, reports.

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
    assert_eq!(s, Settings { start: Start::Shipped, steps: 200, batch_size: 64, lr: 2e-4, seed: 5, schedule: fixed });
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
    let g_bytes = shared::weights::save_generator(&g.valid(), &config, None, shared::weights::Precision::F32).unwrap();
    let d_bytes = shared::weights::save_discriminator(&d.valid(), &config, shared::weights::Precision::F32).unwrap();
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
