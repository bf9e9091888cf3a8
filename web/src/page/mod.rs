//! The page: device start-up, weight downloads, events and canvas drawing.
//!
//! The `<body>` carries the page's state in data attributes (`state`,
//! `backend`, `model`, `seed`, `generation`, `ms`) so that tests, and
//! curious users, can follow it.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::*;
use js_sys::{Function, Promise, Reflect, Uint8Array};
use shared::ModelKind;
use shared::weights::MAX_WEIGHTS_BYTES;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{
    CanvasRenderingContext2d, Document, HtmlCanvasElement, HtmlElement, HtmlInputElement, ImageData,
    KeyboardEvent, Response, Window,
};

use crate::app::{self, MODELS, Slot};

struct Page {
    window: Window,
    document: Document,
    body: HtmlElement,
    canvas: HtmlCanvasElement,
    context: CanvasRenderingContext2d,
    seed: HtmlInputElement,
}

struct State {
    device: Device,
    slots: Vec<(ModelKind, Slot)>,
    model: ModelKind,
    seed: u64,
    /// A generation is running; another request waits in `pending`.
    busy: bool,
    pending: bool,
    generations: u64,
}

impl State {
    fn slot(&self, kind: ModelKind) -> &Slot {
        &self.slots.iter().find(|(k, _)| *k == kind).expect("every model has a slot").1
    }

    fn set_slot(&mut self, kind: ModelKind, slot: Slot) {
        self.slots.iter_mut().find(|(k, _)| *k == kind).expect("every model has a slot").1 = slot;
    }
}

type Shared = Rc<RefCell<State>>;

fn element<T: JsCast>(document: &Document, id: &str) -> Result<T, JsValue> {
    document
        .get_element_by_id(id)
        .ok_or_else(|| JsValue::from_str(&format!("index.html lacks #{id}")))?
        .dyn_into::<T>()
        .map_err(|_| JsValue::from_str(&format!("#{id} is not the expected element")))
}

fn js_message(e: JsValue) -> String {
    e.as_string()
        .or_else(|| Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string()))
        .unwrap_or_else(|| format!("{e:?}"))
}

impl Page {
    fn new() -> Result<Self, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let document = window.document().ok_or("no document")?;
        let body = document.body().ok_or("no body")?;
        let canvas: HtmlCanvasElement = element(&document, "digits")?;
        let context = canvas
            .get_context("2d")?
            .ok_or("no 2d context")?
            .dyn_into::<CanvasRenderingContext2d>()?;
        let seed = element(&document, "seed")?;
        Ok(Self { window, document, body, canvas, context, seed })
    }

    /// The model switch's radio button for `kind`.
    fn radio(&self, kind: ModelKind) -> Result<HtmlInputElement, JsValue> {
        element(&self.document, &format!("model-{kind}"))
    }

    fn mark(&self, key: &str, value: &str) {
        let _ = self.body.dataset().set(key, value);
    }

    fn text(&self, id: &str, text: &str) {
        if let Some(e) = self.document.get_element_by_id(id) {
            e.set_text_content(Some(text));
        }
    }

    fn error(&self, message: &str) {
        web_sys::console::error_1(&message.into());
        if let (Some(list), Ok(item)) = (self.document.get_element_by_id("errors"), self.document.create_element("li")) {
            item.set_text_content(Some(message));
            let _ = list.append_child(&item);
        }
    }

    fn paint(&self, picture: &shared::image::Gray) -> Result<(), JsValue> {
        self.canvas.set_width(picture.width as u32);
        self.canvas.set_height(picture.height as u32);
        let rgba = app::rgba(picture);
        let data = ImageData::new_with_u8_clamped_array_and_sh(Clamped(&rgba), picture.width as u32, picture.height as u32)?;
        self.context.put_image_data(&data, 0.0, 0.0)
    }

    /// A message drawn on the canvas, so that it never stays blank.
    fn notice(&self, message: &str) {
        let (w, h) = (self.canvas.width() as f64, self.canvas.height() as f64);
        self.context.set_fill_style_str("#202020");
        self.context.fill_rect(0.0, 0.0, w, h);
        self.context.set_fill_style_str("#ff8888");
        self.context.set_font("14px sans-serif");
        self.context.set_text_align("center");
        let _ = self.context.fill_text(message, w / 2.0, h / 2.0);
    }

    fn now(&self) -> f64 {
        self.window.performance().map(|p| p.now()).unwrap_or(0.0)
    }
}

/// `navigator.gpu.requestAdapter()` answers with an adapter: asked before
/// burn's wgpu runtime is, so a browser without WebGPU goes straight to the CPU.
async fn webgpu_adapter(window: &Window) -> bool {
    let Ok(gpu) = Reflect::get(&window.navigator(), &"gpu".into()) else { return false };
    if gpu.is_undefined() || gpu.is_null() {
        return false;
    }
    let Some(request) = Reflect::get(&gpu, &"requestAdapter".into()).ok().and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return false;
    };
    let Ok(promise) = request.call0(&gpu).map(Promise::from) else { return false };
    matches!(JsFuture::from(promise).await, Ok(adapter) if !adapter.is_null() && !adapter.is_undefined())
}

/// The device and how the page names it: WebGPU when the browser offers an
/// adapter and burn's runtime comes up on it, else the CPU backend.
async fn init_device(window: &Window) -> (Device, &'static str, String) {
    if webgpu_adapter(window).await {
        match Device::wgpu_options().init_async().await {
            Ok(device) => return (device, "webgpu", "WebGPU".into()),
            Err(e) => {
                // JS errors carry their whole stack: the first line says what happened.
                let reason = e.to_string();
                let reason = reason.lines().next().unwrap_or_default();
                return (Device::flex(), "cpu", format!("CPU (WebGPU failed to start: {reason})"));
            }
        }
    }
    (Device::flex(), "cpu", "CPU (this browser offers no WebGPU adapter)".into())
}

/// The bytes at `url`, refusing HTTP errors and oversized files before reading them.
async fn fetch_bytes(window: &Window, url: &str) -> Result<Vec<u8>, String> {
    let response: Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(js_message)?
        .dyn_into()
        .map_err(|_| "fetch did not return a Response".to_string())?;
    if !response.ok() {
        return Err(format!("HTTP {} {}", response.status(), response.status_text()).trim_end().into());
    }
    let length = response.headers().get("content-length").ok().flatten().and_then(|l| l.parse::<usize>().ok());
    if let Some(length) = length.filter(|&l| l > MAX_WEIGHTS_BYTES) {
        return Err(format!("{length} bytes, over the {MAX_WEIGHTS_BYTES}-byte limit for weights"));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(js_message)?).await.map_err(js_message)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Draws the current model and seed, queueing one request while busy.
fn request_draw(page: Rc<Page>, state: Shared) {
    {
        let mut s = state.borrow_mut();
        if s.busy {
            s.pending = true;
            return;
        }
        s.busy = true;
    }
    spawn_local(async move {
        loop {
            let (job, device, kind, seed) = {
                let s = state.borrow();
                let job = match s.slot(s.model) {
                    Slot::Ready { generator, info } => Ok((generator.clone(), info.model.clone())),
                    Slot::Failed(message) => Err(message.clone()),
                    Slot::Loading => Err("still loading".into()),
                };
                (job, s.device.clone(), s.model, s.seed)
            };
            match job {
                Ok((generator, config)) => {
                    let start = page.now();
                    match app::draw_digits(&generator, &config, seed, &device).await {
                        Ok(picture) => {
                            let ms = page.now() - start;
                            if let Err(e) = page.paint(&picture) {
                                page.error(&format!("drawing failed: {}", js_message(e)));
                            }
                            let generations = {
                                let mut s = state.borrow_mut();
                                s.generations += 1;
                                s.generations
                            };
                            page.text("timing", &format!("{} digits in {ms:.1} ms", app::GRID_DIGITS));
                            page.mark("ms", &format!("{ms:.2}"));
                            page.mark("model", kind.name());
                            page.mark("seed", &seed.to_string());
                            page.mark("generation", &generations.to_string());
                            if generations == 1 {
                                // Milliseconds from navigation to the first digits on screen.
                                page.mark("firstms", &format!("{:.0}", page.now()));
                            }
                        }
                        Err(e) => page.error(&format!("{kind}: generation failed: {e}")),
                    }
                }
                Err(message) => page.text("timing", &format!("{}: {message}", app::label(kind))),
            }
            let mut s = state.borrow_mut();
            if !s.pending {
                s.busy = false;
                break;
            }
            s.pending = false;
        }
    });
}

/// New latents: a fresh seed, shown in the seed field, and a redraw.
fn resample(page: &Rc<Page>, state: &Shared) {
    let seed = app::seed_from_unit(js_sys::Math::random());
    state.borrow_mut().seed = seed;
    page.seed.set_value(&seed.to_string());
    request_draw(page.clone(), state.clone());
}

fn listen<E>(target: &web_sys::EventTarget, event: &str, handler: impl FnMut(E) + 'static) -> Result<(), JsValue>
where
    E: wasm_bindgen::convert::FromWasmAbi + 'static,
{
    let closure = Closure::<dyn FnMut(E)>::new(handler);
    target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref())?;
    closure.forget(); // the page lives as long as its listeners
    Ok(())
}

fn wire_events(page: &Rc<Page>, state: &Shared) -> Result<(), JsValue> {
    let (p, s) = (page.clone(), state.clone());
    listen(&page.canvas, "click", move |_: web_sys::MouseEvent| {
        resample(&p, &s);
    })?;
    let (p, s) = (page.clone(), state.clone());
    listen(&page.document, "keydown", move |e: KeyboardEvent| {
        let typing = e.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()).is_some();
        if e.code() == "Space" && !typing {
            e.prevent_default();
            resample(&p, &s);
        }
    })?;
    let new_button: HtmlElement = element(&page.document, "new")?;
    let (p, s) = (page.clone(), state.clone());
    listen(&new_button, "click", move |_: web_sys::MouseEvent| {
        resample(&p, &s);
    })?;
    let (p, s) = (page.clone(), state.clone());
    listen(&page.seed, "change", move |_: web_sys::Event| match app::parse_seed(&p.seed.value()) {
        Ok(seed) => {
            s.borrow_mut().seed = seed;
            request_draw(p.clone(), s.clone());
        }
        Err(e) => p.error(&e),
    })?;
    for kind in MODELS {
        let radio = page.radio(kind)?;
        let (p, s) = (page.clone(), state.clone());
        listen(&radio, "change", move |_: web_sys::Event| {
            s.borrow_mut().model = kind;
            request_draw(p.clone(), s.clone());
        })?;
    }
    Ok(())
}

/// `?seed=` and `?model=` from the address, for links to a given grid.
fn url_choice(window: &Window) -> (Option<u64>, Option<ModelKind>) {
    let search = window.location().search().unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
    let get = |k: &str| params.as_ref().and_then(|p| p.get(k));
    let seed = get("seed").and_then(|s| app::parse_seed(&s).ok());
    let model = get("model").and_then(|m| MODELS.into_iter().find(|k| k.name() == m));
    (seed, model)
}

async fn run() -> Result<(), JsValue> {
    let page = Rc::new(Page::new()?);
    page.text("status", "Starting the device…");
    let (device, backend, description) = init_device(&page.window).await;
    page.mark("backend", backend);
    page.text("status", &format!("Device: {description}. Loading weights…"));

    let (seed, model) = url_choice(&page.window);
    let state: Shared = Rc::new(RefCell::new(State {
        device: device.clone(),
        slots: MODELS.iter().map(|&k| (k, Slot::Loading)).collect(),
        model: model.unwrap_or(ModelKind::Gan),
        seed: seed.unwrap_or_else(|| app::seed_from_unit(js_sys::Math::random())),
        busy: false,
        pending: false,
        generations: 0,
    }));
    page.seed.set_value(&state.borrow().seed.to_string());
    if let Ok(radio) = page.radio(state.borrow().model) {
        radio.set_checked(true);
    }

    // Download, check and warm up each model, the chosen one first so that its
    // digits appear before the others have loaded; one failing leaves the others usable.
    let chosen = state.borrow().model;
    let order = std::iter::once(chosen).chain(MODELS.into_iter().filter(|&k| k != chosen));
    let mut started = false;
    for kind in order {
        let slot = load_model(&page.window, kind, &device).await;
        let ready = slot.is_ready();
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
                state.borrow_mut().model = kind;
                if let Ok(radio) = page.radio(kind) {
                    radio.set_checked(true);
                }
            }
            wire_events(&page, &state)?;
            page.text("status", &format!("Device: {description}. Click the digits or press Space for new ones."));
            page.mark("state", "ready");
            request_draw(page.clone(), state.clone());
        } else if ready && state.borrow().model == kind {
            // The user switched to this model while it was loading.
            request_draw(page.clone(), state.clone());
        }
    }
    if !started {
        page.mark("state", "error");
        page.text("status", &format!("Device: {description}. No model could be loaded (see below)."));
        page.notice("No model could be loaded");
    }
    page.mark("loaded", "all");
    Ok(())
}

/// Downloads, checks and warms up one model: the warm-up generation compiles
/// its kernels, so that the first click is as fast as the next.
async fn load_model(window: &Window, kind: ModelKind, device: &Device) -> Slot {
    let slot = match fetch_bytes(window, &app::weights_url(kind)).await {
        Ok(bytes) => Slot::from_weights(kind, &bytes, device),
        Err(reason) => Slot::fetch_failed(kind, &reason),
    };
    match slot {
        Slot::Ready { generator, info } => match app::draw_digits(&generator, &info.model, 0, device).await {
            Ok(_) => Slot::Ready { generator, info },
            Err(e) => Slot::Failed(format!("{}: warm-up generation failed: {e}", app::weights_url(kind))),
        },
        other => other,
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
