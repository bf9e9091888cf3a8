//! The "Train here" panel: fetches the MNIST subset when first opened, then
//! runs [`Run`] one step per turn of the event loop (so the page stays
//! responsive), reads the losses back every few steps, draws them, redraws
//! the preview grid every [`PREVIEW_EVERY`] steps, and hands the generator to
//! the main grid or to a download.
//!
//! `data-traindata` (`ready`, `failed`), `data-trainstate` (`starting`, then
//! the run's phase), `data-trainstep`, `data-trainrate` (steps/s),
//! `data-trainloss` ("D G" of the last step read back), `data-trainstage`
//! (where a growing run stands, e.g. `fading in 8x8 (40 %)`) and
//! `data-trainpreviews` follow it; `data-trainbusy` is `no` once the step loop
//! has ended (the last losses and preview drawn).

use std::rc::Rc;

use shared::mnist::{self, Images};
use shared::weights::{self, MAX_WEIGHTS_BYTES, Precision, Role, WeightsInfo};
use shared::{ModelConfig, ModelKind};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::Element;

mod panel;

use panel::{controls, draw_chart, input_value, select_value, show_progress, status};

use super::{Page, Shared, fetch_bytes, files, js_message, listen, on_click, request_draw};
use crate::app::{self, Origin, Slot};
use crate::training::{Action, DATA_URL, PREVIEW_EVERY, Phase, Run, Settings, Start};

/// The data file is refused above this size (it is 1.6 MB).
const MAX_DATA_BYTES: usize = 16 << 20;

#[derive(Default)]
enum Data {
    #[default]
    NotLoaded,
    Loading,
    Ready(Rc<Images>),
    /// Opening the panel again tries again.
    Failed,
}

#[derive(Default)]
pub struct Training {
    data: Data,
    run: Option<Run>,
    /// A run is being set up (weights fetched for fine-tuning).
    starting: bool,
    /// The step loop is going; a resume must not start a second one.
    looping: bool,
    /// Steps per second are counted from this (ms, step) on: the first read-back
    /// after starting or resuming, so shader compilation is left out.
    rate_from: Option<(f64, usize)>,
    previews: u64,
}

/// Fetches and decodes the MNIST subset, once.
fn load_data(page: &Rc<Page>, state: &Shared) {
    if !matches!(state.borrow().training.data, Data::NotLoaded | Data::Failed) {
        return;
    }
    state.borrow_mut().training.data = Data::Loading;
    page.text("train-data", &format!("Fetching the MNIST test images ({DATA_URL})…"));
    let (page, state) = (page.clone(), state.clone());
    spawn_local(async move {
        let decoded = fetch_bytes(&page.window, DATA_URL, MAX_DATA_BYTES).await.and_then(|bytes| {
            mnist::decode_images(DATA_URL, &bytes).map(|i| (i, bytes.len())).map_err(|e| e.to_string())
        });
        let data = match decoded {
            Ok((images, size)) => {
                page.text(
                    "train-data",
                    &format!(
                        "Training data: the {} MNIST test images ({DATA_URL}, {:.2} MB, fetched now).",
                        images.count,
                        size as f64 / 1e6
                    ),
                );
                page.mark("traindata", "ready");
                Data::Ready(Rc::new(images))
            }
            Err(e) => {
                let message = format!("{DATA_URL}: {e}");
                page.text("train-data", &format!("The training data could not be loaded: {message}"));
                page.error(&message);
                page.mark("traindata", "failed");
                Data::Failed
            }
        };
        let mut s = state.borrow_mut();
        s.training.data = data;
        controls(&page, &s.training);
    });
}

/// Reads the panel, sets up a run (fetching the shipped pair to fine-tune)
/// and starts the loop.
fn start(page: &Rc<Page>, state: &Shared) {
    let from = if select_value(page, "train-from") == "shipped" { Start::Shipped } else { Start::Scratch };
    let kind = if select_value(page, "train-model") == "pggan" { ModelKind::Pggan } else { ModelKind::Gan };
    let seed = state.borrow().seed;
    let settings = match Settings::parse(
        from,
        &input_value(page, "train-steps"),
        &input_value(page, "train-batch"),
        &input_value(page, "train-lr"),
        seed,
    ) {
        Ok(settings) => settings.growing(select_value(page, "train-schedule") == "progressive", kind),
        Err(e) => return status(page, &format!("Not started: {e}.")),
    };
    let images = match &state.borrow().training.data {
        Data::Ready(images) => images.clone(),
        _ => return status(page, "Not started: the training data has not loaded."),
    };
    {
        let mut s = state.borrow_mut();
        s.training.starting = true;
        controls(page, &s.training);
    }
    let (page, state) = (page.clone(), state.clone());
    spawn_local(async move {
        let device = state.borrow().device.clone();
        let models = match from {
            Start::Scratch => Ok((ModelConfig::post(kind), None)),
            Start::Shipped => {
                status(&page, "Fetching the shipped generator and discriminator…");
                fine_tuning_pair(&page, kind, &device).await.map(|(config, g, d)| (config, Some((g, d))))
            }
        };
        let mut s = state.borrow_mut();
        s.training.starting = false;
        match models {
            Ok((config, models)) => {
                let steps = settings.steps;
                s.training.run = Some(Run::new(settings, config, &images, models, &device));
                s.training.rate_from = None;
                s.training.previews = 0;
                let description = s.description.clone();
                status(&page, &format!("Training the {} on {description}: step 0 of {steps}", app::label(kind)));
                draw_chart(&page, s.training.run.as_ref().expect("just set"));
                controls(&page, &s.training);
                drop(s);
                spawn_loop(&page, &state);
            }
            Err(e) => {
                status(&page, &format!("Not started: {e}."));
                controls(&page, &s.training);
            }
        }
    });
}

/// The shipped generator and discriminator of `kind`, on the training device.
async fn fine_tuning_pair(
    page: &Page,
    kind: ModelKind,
    device: &burn::prelude::Device,
) -> Result<(ModelConfig, shared::Generator, shared::Discriminator), String> {
    let (g_url, d_url) = (app::weights_url(kind), app::discriminator_url(kind));
    let g = fetch_bytes(&page.window, &g_url, MAX_WEIGHTS_BYTES).await.map_err(|e| format!("{g_url}: {e}"))?;
    let d = fetch_bytes(&page.window, &d_url, MAX_WEIGHTS_BYTES).await.map_err(|e| format!("{d_url}: {e}"))?;
    app::fine_tuning_models(kind, &g, &d, &device.clone().autodiff())
}

fn spawn_loop(page: &Rc<Page>, state: &Shared) {
    {
        let mut s = state.borrow_mut();
        if s.training.looping {
            return; // the running loop carries on
        }
        s.training.looping = true;
    }
    page.mark("trainbusy", "yes");
    let (page, state) = (page.clone(), state.clone());
    spawn_local(async move {
        loop {
            step_loop(&page, &state).await;
            let mut s = state.borrow_mut();
            // Resumed while the loop was winding down: go on.
            if s.training.run.as_ref().is_some_and(|r| r.wants_step()) {
                continue;
            }
            s.training.looping = false;
            controls(&page, &s.training);
            page.mark("trainbusy", "no");
            break;
        }
    });
}

/// One step per turn of the event loop while the run is running; losses read
/// back and charted every few steps, the preview redrawn now and then; when
/// paused or over, what is pending is read back and drawn, and the loop ends.
async fn step_loop(page: &Rc<Page>, state: &Shared) {
    loop {
        let (losses, preview, running) = {
            let mut s = state.borrow_mut();
            let Some(run) = s.training.run.as_mut() else { return };
            run.step();
            let losses = run.take_losses();
            let preview = run
                .preview_due()
                .then(|| (run.generator(), run.config.clone(), run.settings.seed, run.device().clone()));
            (losses, preview, run.wants_step())
        };
        if let Some(losses) = losses {
            let values = match losses.into_data_async().await.map_err(|e| format!("{e:?}")) {
                Ok(data) => data.try_into_vec_as::<f32>().map_err(|e| format!("{e:?}")),
                Err(e) => Err(e),
            };
            let mut s = state.borrow_mut();
            let now = page.now();
            let training = &mut s.training;
            let Some(run) = training.run.as_mut() else { return };
            match values.map_err(|e| format!("reading the losses back: {e}")).and_then(|v| run.record(&v)) {
                Ok(()) => {
                    let from = *training.rate_from.get_or_insert((now, run.step));
                    show_progress(page, run, from, now);
                    draw_chart(page, run);
                }
                Err(e) => {
                    status(page, &format!("Stopped: {e}."));
                    page.error(&format!("training: {e}"));
                }
            }
            controls(page, training);
        }
        if let Some((generator, config, seed, device)) = preview {
            match app::draw_digits(&generator, &config, seed, &device).await {
                Ok(picture) => {
                    if let Err(e) = page.preview.paint(&picture) {
                        page.error(&format!("training preview: {}", js_message(e)));
                    }
                    let mut s = state.borrow_mut();
                    s.training.previews += 1;
                    page.mark("trainpreviews", &s.training.previews.to_string());
                }
                Err(e) => page.error(&format!("training preview: {e}")),
            }
        }
        if !running {
            return;
        }
        page.next_turn().await;
    }
}

fn act(page: &Rc<Page>, state: &Shared, action: Action) {
    let result = {
        let mut s = state.borrow_mut();
        let now = page.now();
        let training = &mut s.training;
        let Some(run) = training.run.as_mut() else { return };
        let result = run.act(action);
        if result.is_ok() && action == Action::Resume {
            training.rate_from = None;
        }
        // The status line says "Paused", "Stopped" at once, not at the next read-back.
        show_progress(page, run, training.rate_from.unwrap_or((now, run.step)), now);
        controls(page, training);
        result
    };
    match result {
        Ok(()) if action == Action::Resume => spawn_loop(page, state),
        Ok(()) => {}
        Err(e) => status(page, &e),
    }
}

fn pause_or_resume(page: &Rc<Page>, state: &Shared) {
    let paused = state.borrow().training.run.as_ref().is_some_and(|r| r.phase() == &Phase::Paused);
    act(page, state, if paused { Action::Resume } else { Action::Pause });
}

/// The trained generator becomes the grid's, for its model.
fn use_in_grid(page: &Rc<Page>, state: &Shared) {
    let (kind, slot) = {
        let s = state.borrow();
        let Some(run) = s.training.run.as_ref() else { return };
        let info = WeightsInfo::new(Role::Generator, run.config.clone(), Some(run.facts()));
        let slot = Slot::Ready { generator: run.generator(), info, origin: Origin::Trained { steps: run.step } };
        (run.config.kind(), slot)
    };
    state.borrow_mut().set_slot(kind, slot, None);
    page.choose_model(state, kind);
    request_draw(page, state);
}

/// Saves the trained generator as a safetensors file `trainer sample` reads.
fn download(page: &Rc<Page>, state: &Shared) {
    let job = {
        let s = state.borrow();
        s.training.run.as_ref().map(|run| (run.generator(), run.config.clone(), run.facts()))
    };
    let Some((generator, config, facts)) = job else { return };
    let page = page.clone();
    spawn_local(async move {
        let name = format!("{}-trained-{}-steps.safetensors", config.kind(), facts.steps);
        let host = burn::prelude::Device::flex();
        match weights::save_generator_async(&generator, &config, Some(facts), Precision::F32, &host).await {
            Ok(bytes) => match files::download(&page, &bytes, &name) {
                Ok(()) => page.mark("traindownload", &name),
                Err(e) => page.error(&format!("download: {}", js_message(e))),
            },
            Err(e) => page.error(&format!("saving the trained generator: {e}")),
        }
    });
}

pub fn wire(page: &Rc<Page>, state: &Shared) -> Result<(), JsValue> {
    let panel: Element = page.get("train-panel")?;
    let (p, s) = (page.clone(), state.clone());
    let details = panel.clone();
    listen(&panel, "toggle", move |_: web_sys::Event| {
        if details.has_attribute("open") {
            load_data(&p, &s);
        }
    })?;
    if panel.has_attribute("open") {
        load_data(page, state);
    }
    page.text(
        "train-preview-note",
        &format!("The grid below is redrawn every {PREVIEW_EVERY} steps from the same latents (the page's seed)."),
    );
    // The choice of growing applies to a conv model from scratch only.
    for id in ["train-model", "train-from"] {
        let (p, s) = (page.clone(), state.clone());
        let select: Element = page.get(id)?;
        listen(&select, "change", move |_: web_sys::Event| controls(&p, &s.borrow().training))?;
    }
    on_click(page, state, "train-go", start)?;
    on_click(page, state, "train-pause", pause_or_resume)?;
    on_click(page, state, "train-stop", |p, s| act(p, s, Action::Stop))?;
    on_click(page, state, "train-use", use_in_grid)?;
    on_click(page, state, "train-download", download)?;
    controls(page, &state.borrow().training);
    Ok(())
}
