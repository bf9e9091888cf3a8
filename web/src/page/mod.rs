//! The page: its state, weight downloads, the grid of digits and the events
//! that redraw it. The page's elements (`view`), the switch to WebGPU, the
//! latent walk, the training panel and the user's own weights files live in
//! the submodules.
//!
//! The `<body>` carries the page's state in data attributes (`state`,
//! `backend`, `model`, `seed`, `generation`, `ms`, `origin`, `drawnby`
//! (`webgpu-worker`, `worker` or `page`), `drawer` and `gpudrawer` (the CPU
//! and the WebGPU worker's status), `firstms` and
//! `firstby` (when the first digits appeared, and who drew them), `early`
//! (grids `index.html` had the worker draw before this module loaded), and the
//! `walk*`, `train*` and `weights*` ones of the submodules) so that tests,
//! and curious users, can follow it.

mod channel;
mod drawer;
mod files;
mod train;
mod view;
mod walk;
mod webgpu;

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::*;
use shared::weights::{MAX_WEIGHTS_BYTES, WeightsInfo};
use shared::{ModelConfig, ModelKind};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlInputElement, KeyboardEvent, MouseEvent, Window};

use fetch_limited::{js_message, read_limited};

use crate::app::{self, MODELS, Slot, Weights};
use view::{Page, listen, on_click};
use webgpu::upgrade_to_webgpu;

/// Runs a job at most once at a time: asked again while it runs, it runs
/// once more afterwards (however often it was asked), with the state of then.
#[derive(Default)]
struct Coalesce {
    busy: bool,
    again: bool,
}

struct State {
    /// The page's own device, burn's CPU backend: it draws and trains only
    /// where no worker can.
    device: Device,
    /// Where grids are drawn, for the status line, e.g. "WebGPU".
    description: String,
    /// Grids are drawn in the WebGPU worker (`gpu_drawer`) from now on.
    gpu: bool,
    drawer: drawer::Drawer,
    /// Started where the browser offers WebGPU, after the first digits.
    gpu_drawer: Option<drawer::Drawer>,
    slots: Vec<(ModelKind, Slot)>,
    model: ModelKind,
    seed: u64,
    drawing: Coalesce,
    generations: u64,
    walk: walk::Walk,
    training: train::Training,
}

impl State {
    fn slot(&self, kind: ModelKind) -> &Slot {
        &self.slots.iter().find(|(k, _)| *k == kind).expect("every model has a slot").1
    }

    /// Puts `slot` in place, and its weights file, if it has one, in the drawing workers.
    fn set_slot(&mut self, kind: ModelKind, slot: Slot) {
        let workers = std::iter::once(&self.drawer).chain(&self.gpu_drawer);
        match &slot {
            Slot::Ready { weights: Weights::File(bytes), info, .. } => {
                workers.for_each(|w| w.load(kind, &info.model, bytes));
            }
            _ => workers.for_each(|w| {
                w.forget(kind);
            }),
        }
        self.slots.iter_mut().find(|(k, _)| *k == kind).expect("every model has a slot").1 = slot;
    }

    /// The weights file of each model that has one, for a worker started later.
    fn files(&self) -> Vec<(ModelKind, ModelConfig, Rc<Vec<u8>>)> {
        self.slots
            .iter()
            .filter_map(|(kind, slot)| match slot {
                Slot::Ready { weights: Weights::File(bytes), info, .. } => {
                    Some((*kind, info.model.clone(), bytes.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The worker that can draw the chosen model now, and its name for
    /// `data-drawnby`: the WebGPU one once the page switched to it, else the CPU one.
    fn drawing_worker(&self) -> Option<(drawer::Drawer, &'static str)> {
        match &self.gpu_drawer {
            Some(gpu) if self.gpu && gpu.holds(self.model) => Some((gpu.clone(), "webgpu-worker")),
            _ => self.drawer.has(self.model).then(|| (self.drawer.clone(), "worker")),
        }
    }

    /// The chosen model's weights and header, or why there are none.
    fn chosen(&self) -> Result<(Weights, WeightsInfo, app::Origin), String> {
        match self.slot(self.model) {
            Slot::Ready { weights, info, origin } => Ok((weights.clone(), info.clone(), origin.clone())),
            Slot::Failed(message) => Err(message.clone()),
            Slot::Loading => Err("still loading".into()),
        }
    }
}

type Shared = Rc<RefCell<State>>;

/// Runs `job` unless it is already running; then once more when it ends.
fn coalesced<J>(state: &Shared, flag: fn(&mut State) -> &mut Coalesce, job: J)
where
    J: AsyncFn() + 'static,
{
    {
        let mut s = state.borrow_mut();
        let f = flag(&mut s);
        if f.busy {
            f.again = true;
            return;
        }
        f.busy = true;
    }
    let state = state.clone();
    spawn_local(async move {
        loop {
            job().await;
            let mut s = state.borrow_mut();
            let f = flag(&mut s);
            if !f.again {
                f.busy = false;
                break;
            }
            f.again = false;
        }
    });
}

/// The bytes at `url`, refusing HTTP errors and files over `limit` bytes
/// (`fetch-limited`, which the worker downloads with too).
async fn fetch_bytes(window: &Window, url: &str, limit: usize) -> Result<Vec<u8>, String> {
    read_limited(window.fetch_with_str(url), limit).await
}

/// Draws the current model and seed, once more if asked while drawing; the
/// latent walk follows the grid.
fn request_draw(page: &Rc<Page>, state: &Shared) {
    let (page, shared) = (page.clone(), state.clone());
    coalesced(
        state,
        |s| &mut s.drawing,
        async move || {
            let (job, device, kind, seed, worker) = {
                let s = shared.borrow();
                (s.chosen(), s.device.clone(), s.model, s.seed, s.drawing_worker())
            };
            let (weights, info, origin) = match job {
                Ok(job) => job,
                Err(message) => {
                    page.text("timing", &format!("{}: {message}", app::label(kind)));
                    return;
                }
            };
            let start = page.now();
            // A worker that stopped meanwhile (it says why in the console) leaves the draw to the page.
            let in_worker = match &worker {
                Some((worker, name)) => worker.draw(kind, seed).await.ok().map(|picture| (picture, *name)),
                None => None,
            };
            let (drawn, drawn_by) = match in_worker {
                Some((picture, name)) => (Ok(picture), name),
                None => match weights.generator(&info.model, &device) {
                    Ok(generator) => (app::draw_digits(&generator, &info.model, seed, &device).await, "page"),
                    Err(e) => (Err(e), "page"),
                },
            };
            match drawn {
                Ok(picture) => {
                    let ms = page.now() - start;
                    if let Err(e) = page.digits.paint(&picture) {
                        page.error(&format!("drawing failed: {}", js_message(e)));
                    }
                    let generations = {
                        let mut s = shared.borrow_mut();
                        s.generations += 1;
                        s.generations
                    };
                    page.text("timing", &format!("{} digits in {ms:.1} ms", app::GRID_DIGITS));
                    page.text("origin", &format!("Drawn with {}.", origin.describe(kind, info.training.as_ref())));
                    page.mark("ms", &format!("{ms:.2}"));
                    page.mark("model", kind.name());
                    page.mark("origin", origin.name());
                    page.mark("seed", &seed.to_string());
                    page.mark("generation", &generations.to_string());
                    page.mark("drawnby", drawn_by);
                    if page.body.dataset().get("firstms").is_none() {
                        // Milliseconds from navigation to the first digits on screen
                        // (index.html sets them when its worker drew them first).
                        page.mark("firstms", &format!("{:.0}", page.now()));
                        page.mark("firstby", "page");
                    }
                    walk::request(&page, &shared);
                }
                Err(e) => page.error(&format!("{kind}: generation failed: {e}")),
            }
        },
    );
}

/// New latents: a fresh seed, shown in the seed field, and a redraw.
fn resample(page: &Rc<Page>, state: &Shared) {
    let seed = app::seed_from_unit(js_sys::Math::random());
    state.borrow_mut().seed = seed;
    page.seed.set_value(&seed.to_string());
    request_draw(page, state);
}

fn wire_events(page: &Rc<Page>, state: &Shared) -> Result<(), JsValue> {
    let (p, s) = (page.clone(), state.clone());
    listen(&page.digits.element, "click", move |e: MouseEvent| {
        // In walk mode a click picks the digit under it; otherwise, new digits.
        if !walk::click(&p, &s, &e) {
            resample(&p, &s);
        }
    })?;
    let (p, s) = (page.clone(), state.clone());
    listen(&page.document, "keydown", move |e: KeyboardEvent| {
        let typing = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()).is_some();
        if e.code() == "Space" && !typing {
            e.prevent_default();
            resample(&p, &s);
        }
    })?;
    on_click(page, state, "new", resample)?;
    let (p, s) = (page.clone(), state.clone());
    listen(&page.seed, "change", move |_: web_sys::Event| match app::parse_seed(&p.seed.value()) {
        Ok(seed) => {
            s.borrow_mut().seed = seed;
            request_draw(&p, &s);
        }
        Err(e) => p.error(&e),
    })?;
    for kind in MODELS {
        let radio = page.radio(kind)?;
        let (p, s) = (page.clone(), state.clone());
        listen(&radio, "change", move |_: web_sys::Event| {
            s.borrow_mut().model = kind;
            request_draw(&p, &s);
        })?;
    }
    walk::wire(page, state)?;
    files::wire(page, state)?;
    train::wire(page, state)?;
    Ok(())
}

/// The first grid: `?model=` and `?seed=` from the address (for links to a
/// given grid) where valid, else the GAN and a seed from `unit`.
fn first_choice(window: &Window, unit: f64) -> (ModelKind, u64) {
    let search = window.location().search().unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
    let get = |k: &str| params.as_ref().and_then(|p| p.get(k));
    app::first_choice(get("model").as_deref(), get("seed").as_deref(), unit)
}

async fn run() -> Result<(), JsValue> {
    let page = Rc::new(Page::new()?);
    // The CPU draws first: it needs no kernels compiled, so digits appear at
    // once; WebGPU, where there is one, takes over when it is ready.
    let device = Device::flex();
    page.mark("backend", "cpu");
    page.text("status", "Loading weights…");

    // The worker index.html started for the first digits, if it did: the
    // page keeps the grid on screen (the user may have asked for others).
    let handoff = drawer::Handoff::take(&page.window);
    let (model, seed) = match handoff.as_ref().and_then(|h| h.choice.as_ref()) {
        Some((model, seed)) => app::first_choice(Some(model), Some(seed), 0.0),
        None => first_choice(&page.window, handoff.as_ref().map_or_else(js_sys::Math::random, |h| h.unit)),
    };
    let drawer = {
        let page = page.clone();
        drawer::Drawer::start(handoff, move |status| page.mark("drawer", status))
    };
    let state: Shared = Rc::new(RefCell::new(State {
        device: device.clone(),
        description: "CPU".into(),
        gpu: false,
        drawer,
        gpu_drawer: None,
        slots: MODELS.iter().map(|&k| (k, Slot::Loading)).collect(),
        model,
        seed,
        drawing: Coalesce::default(),
        generations: 0,
        walk: walk::Walk::default(),
        training: train::Training::default(),
    }));
    page.seed.set_value(&state.borrow().seed.to_string());
    if let Ok(radio) = page.radio(state.borrow().model) {
        radio.set_checked(true);
    }

    // Download and check each model, the chosen one first so that its digits
    // appear before the others have loaded; one failing leaves the others usable.
    let chosen = state.borrow().model;
    let order = std::iter::once(chosen).chain(MODELS.into_iter().filter(|&k| k != chosen));
    let mut started = false;
    for kind in order {
        let slot = load_model(&page.window, kind).await;
        let ready = slot.is_ready();
        if !matches!(state.borrow().slot(kind), Slot::Loading) {
            continue; // the user's own file arrived first: keep it
        }
        if let Slot::Failed(message) = &slot {
            page.error(message);
            if let Ok(radio) = page.radio(kind) {
                radio.set_disabled(true);
            }
        }
        state.borrow_mut().set_slot(kind, slot);
        if ready && !started {
            started = true;
            if kind != chosen {
                page.choose_model(&state, kind);
            }
            wire_events(&page, &state)?;
            page.text("status", "Drawn on the CPU. Click the digits or press Space for new ones.");
            page.mark("state", "ready");
            request_draw(&page, &state);
        } else if ready && state.borrow().model == kind {
            // The user switched to this model while it was loading.
            request_draw(&page, &state);
        }
    }
    if !started {
        // Your own file and training from scratch help exactly now: keep them working.
        wire_events(&page, &state)?;
        page.mark("state", "error");
        page.notice("No model could be loaded");
    }
    upgrade_to_webgpu(&page, &state).await;
    let description = state.borrow().description.clone();
    page.text(
        "status",
        &if started {
            format!("Device: {description}. Click the digits or press Space for new ones.")
        } else {
            format!(
                "Device: {description}. No model could be loaded (see below): drop a generator's weights file \
                 on the page, or train one under \"Train here\"."
            )
        },
    );
    page.mark("loaded", "all");
    Ok(())
}

/// Downloads and checks one model (the workers build it).
async fn load_model(window: &Window, kind: ModelKind) -> Slot {
    match fetch_bytes(window, &app::weights_url(kind), MAX_WEIGHTS_BYTES).await {
        Ok(bytes) => Slot::from_weights(kind, bytes),
        Err(reason) => Slot::fetch_failed(kind, &reason),
    }
}

#[wasm_bindgen(start)]
pub fn start() {
    // A panic ends the wasm instance: say so on the page, not only in the console.
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        if let Ok(page) = Page::new() {
            page.mark("state", "error");
            page.error(&format!("the demo stopped: {info}"));
            page.notice("The demo stopped (see below)");
        }
    }));
    spawn_local(async {
        if let Err(e) = run().await {
            let message = js_message(e);
            if let Ok(page) = Page::new() {
                page.mark("state", "error");
                page.error(&message);
                page.notice("The demo could not start (see below)");
            }
        }
    });
}
