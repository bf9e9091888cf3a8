//! The "Train here" panel: fetches the MNIST subset when first opened, then
//! runs a [`Run`] in a training worker (`worker`, off the main thread): the
//! WebGPU worker once the page has switched to WebGPU, else the CPU one;
//! here, on the CPU, one step per turn of the event loop ([`drive`]), only
//! if that worker failed. Either way the run's [`Report`]s update the panel's
//! [`Progress`]: the losses charted, the preview redrawn every
//! [`PREVIEW_EVERY`] steps; the generator goes to the main grid or to a
//! download.
//!
//! `data-traindata` (`ready`, `failed`), `data-trainstate` (`starting`, then
//! the run's phase), `data-trainstep`, `data-trainrate` (steps/s),
//! `data-trainloss` ("D G" of the last step read back), `data-trainstage`
//! (where a growing run stands, e.g. `fading in 8x8 (40 %)`),
//! `data-trainpreviews` and `data-trainwhere` (`webgpu-worker`, `worker` or `page`) follow it;
//! `data-trainbusy` is `no` once the step loop has ended (the last losses and
//! preview drawn).

use std::cell::RefCell;
use std::rc::Rc;

use shared::ModelKind;
use shared::mnist::{self, Images};
use shared::weights::MAX_WEIGHTS_BYTES;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::Element;

mod panel;
mod trained;
mod worker;

use panel::{controls, draw_chart, input_value, select_value, show_progress, status};
use trained::{download, use_in_grid};
use worker::{TrainWorker, send_to_worker, worker_up};

use super::{Page, Shared, fetch_bytes, js_message, listen, on_click};
use crate::app;
use crate::training::{
    Action, DATA_URL, Event, PREVIEW_EVERY, Phase, Progress, Run, Settings, Start, discriminator_url, drive, start_run,
};

/// The data file is refused above this size (it is 1.6 MB).
const MAX_DATA_BYTES: usize = 16 << 20;

#[derive(Default)]
enum Data {
    #[default]
    NotLoaded,
    Loading,
    /// The images, and their file for the training worker.
    Ready {
        images: Rc<Images>,
        file: Rc<Vec<u8>>,
    },
    /// Opening the panel again tries again.
    Failed,
}

/// Where the run trains.
enum Backing {
    /// Here, on the page's CPU, only if the training worker failed.
    Here(Rc<RefCell<Run>>),
    /// In the training worker, on WebGPU or the CPU.
    Worker,
}

#[derive(Default)]
pub struct Training {
    data: Data,
    run: Option<Backing>,
    /// What the panel shows of the run, wherever it trains.
    progress: Option<Progress>,
    /// A run is being set up (weights fetched for fine-tuning, the worker starting it).
    starting: bool,
    /// The run sent to the worker, until it says it started.
    sent: Option<(Settings, ModelKind)>,
    /// The step loop is going; a resume must not start a second one.
    looping: bool,
    /// Steps per second are counted from this (ms, step) on: the first read-back
    /// after starting or resuming, so shader compilation is left out.
    rate_from: Option<(f64, usize)>,
    previews: u64,
    /// Started with the first run (on WebGPU once the page has switched to
    /// it, else on the CPU); down if it failed.
    worker: Option<TrainWorker>,
    /// A WebGPU training worker failed: runs go to the CPU one from then on.
    webgpu_failed: bool,
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
        let decoded = fetch_bytes(&page.window, DATA_URL, MAX_DATA_BYTES)
            .await
            .and_then(|file| mnist::decode_images(DATA_URL, &file).map(|i| (i, file)).map_err(|e| e.to_string()));
        let data = match decoded {
            Ok((images, file)) => {
                page.text(
                    "train-data",
                    &format!(
                        "Training data: the {} MNIST test images ({DATA_URL}, {:.2} MB, fetched now).",
                        images.count,
                        file.len() as f64 / 1e6
                    ),
                );
                page.mark("traindata", "ready");
                Data::Ready { images: Rc::new(images), file: Rc::new(file) }
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
/// and starts it in the training worker (here if that failed).
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
    let (images, file) = match &state.borrow().training.data {
        Data::Ready { images, file } => (images.clone(), file.clone()),
        _ => return status(page, "Not started: the training data has not loaded."),
    };
    {
        let mut s = state.borrow_mut();
        s.training.starting = true;
        controls(page, &s.training);
        page.mark("trainstep", "0");
    }
    let (page, state) = (page.clone(), state.clone());
    spawn_local(async move {
        let pair = match from {
            Start::Scratch => Ok(None),
            Start::Shipped => {
                status(&page, "Fetching the shipped generator and discriminator…");
                shipped_pair(&page, kind).await.map(Some)
            }
        };
        let pair = match pair {
            Ok(pair) => pair,
            Err(e) => return not_started(&page, &state, &e),
        };
        if worker_up(&page, &state) {
            return send_to_worker(&page, &state, settings, kind, &file, pair);
        }
        let device = state.borrow().device.clone();
        let pair = pair.as_ref().map(|(g, d)| (g.as_slice(), d.as_slice()));
        match start_run(settings.clone(), kind, &images, pair, &device) {
            Ok(run) => {
                let mut s = state.borrow_mut();
                s.training.run = Some(Backing::Here(Rc::new(RefCell::new(run))));
                drop(s);
                started(&page, &state, settings, kind, "page");
                spawn_loop(&page, &state);
            }
            Err(e) => not_started(&page, &state, &e),
        }
    });
}

fn not_started(page: &Page, state: &Shared, reason: &str) {
    let mut s = state.borrow_mut();
    s.training.starting = false;
    s.training.sent = None;
    status(page, &format!("Not started: {reason}."));
    controls(page, &s.training);
}

/// The run has started `where_` (`webgpu-worker`, `worker` or `page`): the panel shows it from step 0.
fn started(page: &Page, state: &Shared, settings: Settings, kind: ModelKind, where_: &str) {
    let mut s = state.borrow_mut();
    let steps = settings.steps;
    let progress = Progress::new(settings);
    draw_chart(page, &progress);
    s.training.progress = Some(progress);
    s.training.starting = false;
    s.training.rate_from = None;
    s.training.previews = 0;
    let description = match where_ {
        "webgpu-worker" => "WebGPU, in a worker",
        "worker" => "the CPU, in a worker",
        _ => "the CPU, on this page",
    };
    status(page, &format!("Training the {} on {description}: step 0 of {steps}", app::label(kind)));
    page.mark("trainwhere", where_);
    controls(page, &s.training);
}

/// The shipped generator's and discriminator's files of `kind`.
async fn shipped_pair(page: &Page, kind: ModelKind) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (g_url, d_url) = (app::weights_url(kind), discriminator_url(kind));
    let g = fetch_bytes(&page.window, &g_url, MAX_WEIGHTS_BYTES).await.map_err(|e| format!("{g_url}: {e}"))?;
    let d = fetch_bytes(&page.window, &d_url, MAX_WEIGHTS_BYTES).await.map_err(|e| format!("{d_url}: {e}"))?;
    Ok((g, d))
}

/// Shows what the run reports, wherever it trains.
fn show(page: &Page, state: &Shared, event: Event) {
    match event {
        Event::Report(report) => {
            let mut s = state.borrow_mut();
            let now = page.now();
            let training = &mut s.training;
            let Some(progress) = training.progress.as_mut() else { return };
            let had_failed = matches!(progress.phase, Phase::Failed(_));
            let has_losses = !report.d.is_empty();
            progress.apply(report);
            match &progress.phase {
                Phase::Failed(e) if !had_failed => {
                    status(page, &format!("Stopped: {e}."));
                    page.error(&format!("training: {e}"));
                }
                _ => {
                    let from = if has_losses {
                        *training.rate_from.get_or_insert((now, progress.step))
                    } else {
                        training.rate_from.unwrap_or((now, progress.step))
                    };
                    show_progress(page, progress, from, now);
                }
            }
            draw_chart(page, progress);
            controls(page, training);
        }
        Event::Preview(Ok(picture)) => {
            if let Err(e) = page.preview.paint(&picture) {
                page.error(&format!("training preview: {}", js_message(e)));
            }
            let mut s = state.borrow_mut();
            s.training.previews += 1;
            page.mark("trainpreviews", &s.training.previews.to_string());
        }
        Event::Preview(Err(e)) => page.error(&format!("training preview: {e}")),
    }
}

/// The step loop has ended: the run is paused or over, and all shown.
fn loop_ended(page: &Page, state: &Shared) {
    let mut s = state.borrow_mut();
    s.training.looping = false;
    controls(page, &s.training);
    page.mark("trainbusy", "no");
}

/// Drives a run here (the CPU, the worker having failed) until it pauses or ends.
fn spawn_loop(page: &Rc<Page>, state: &Shared) {
    let run = {
        let mut s = state.borrow_mut();
        let Some(Backing::Here(run)) = &s.training.run else { return };
        let run = run.clone();
        if s.training.looping {
            return; // the running loop carries on
        }
        s.training.looping = true;
        run
    };
    page.mark("trainbusy", "yes");
    let (page, state) = (page.clone(), state.clone());
    spawn_local(async move {
        loop {
            drive(&run, |event| show(&page, &state, event), || page.next_turn()).await;
            // Resumed while the loop was winding down: go on.
            if !run.borrow().wants_step() {
                break;
            }
        }
        loop_ended(&page, &state);
    });
}

fn act(page: &Rc<Page>, state: &Shared, action: Action) {
    let result = {
        let mut s = state.borrow_mut();
        let training = &mut s.training;
        match &training.run {
            Some(Backing::Here(run)) => {
                let mut run = run.borrow_mut();
                run.act(action).map(|()| Some(run.report(run.chart.len())))
            }
            // The worker answers with a report when the step under way has ended.
            Some(Backing::Worker) => training
                .worker
                .as_mut()
                .map_or(Err("no training worker".into()), |w| {
                    let action = serde_json::to_value(action).expect("actions serialise");
                    w.send(
                        &[("op", "act".into()), ("action", action.as_str().unwrap_or_default().into())],
                        JsValue::UNDEFINED,
                    )
                })
                .map(|()| None),
            None => return,
        }
    };
    match result {
        Ok(report) => {
            if action == Action::Resume {
                state.borrow_mut().training.rate_from = None;
            }
            // The status line says "Paused", "Stopped" at once, not at the next read-back.
            if let Some(report) = report {
                show(page, state, Event::Report(report));
            }
            // (The worker says `busy` when its loop starts again.)
            if action == Action::Resume && matches!(state.borrow().training.run, Some(Backing::Here(_))) {
                spawn_loop(page, state);
            }
        }
        Err(e) => status(page, &e),
    }
}

fn pause_or_resume(page: &Rc<Page>, state: &Shared) {
    let paused = state.borrow().training.progress.as_ref().is_some_and(|p| p.phase == Phase::Paused);
    act(page, state, if paused { Action::Resume } else { Action::Pause });
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
