//! The page's end of a drawing worker: the CPU worker (the `drawer` crate in
//! `web/worker`) or the WebGPU worker (`web/gpu-worker`, which answers the
//! same messages). Grids are drawn there, off the main thread, once the page
//! has sent a worker the generator now in the model's slot (the CPU worker
//! takes them as they load; the page switches to the WebGPU one once it has
//! built them all). For generators it cannot have (trained in this page),
//! and when a worker fails, the page draws them itself. The messages are
//! described in `web/worker/src/lib.rs`.
//!
//! `index.html` starts the worker before this module has loaded, to draw the
//! first digits (see [`FIRST`]); the page then adopts that worker rather than
//! starting another.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use js_sys::{Array, Reflect, Uint8Array};
use shared::draw::WalkEnds;
use shared::image::Gray;
use shared::{ModelConfig, ModelKind};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::Worker;

use super::channel::{Link, Requests, answer, field, listen_to, message, picture};
use super::js_message;

/// The CPU worker's entry point, `web/worker/drawer_loader.js`, beside the page.
const LOADER: &str = "drawer_loader.js";
/// The WebGPU worker's, `web/gpu-worker/gpu_worker_loader.js`.
pub const WEBGPU_LOADER: &str = "gpu_worker_loader.js";

/// The global `index.html` leaves for the page: `{worker, messages, unit,
/// adopted, choice}`, the worker it started, what the worker said so far (its
/// `ready`, and the digits it drew), the `Math.random()` it chose the first
/// seed with, and the `{model, seed}` on screen (its controls work before the
/// page's module has loaded).
const FIRST: &str = "mnistGanFirst";

/// What `index.html` started, taken over by the page.
pub struct Handoff {
    worker: Worker,
    messages: Vec<JsValue>,
    /// The first grid's random draw, for [`shared::draw::first_choice`].
    pub unit: f64,
    /// The model and seed on screen, if the worker drew any.
    pub choice: Option<(String, String)>,
}

impl Handoff {
    /// Takes over the worker `index.html` started, if it did: from now on
    /// its messages come to the page, and the script paints nothing more.
    pub fn take(window: &web_sys::Window) -> Option<Handoff> {
        let first = field(window, FIRST);
        let worker = field(&first, "worker").dyn_into::<Worker>().ok()?;
        if field(&first, "adopted").is_truthy() {
            return None;
        }
        let _ = Reflect::set(&first, &"adopted".into(), &true.into());
        worker.set_onmessage(None);
        let messages = field(&first, "messages").dyn_into::<Array>().map(|a| a.to_vec()).unwrap_or_default();
        let unit = field(&first, "unit").as_f64().unwrap_or_else(js_sys::Math::random);
        let choice = field(&first, "choice");
        let choice = field(&choice, "model").as_string().zip(field(&choice, "seed").as_string());
        Some(Handoff { worker, messages, unit, choice })
    }
}

/// What the page does with the worker's status.
type OnChange = Box<dyn Fn(&str)>;

#[derive(Clone)]
pub struct Drawer(Rc<RefCell<Inner>>);

#[derive(Default)]
struct Inner {
    /// How messages name it, e.g. "the drawing worker".
    name: &'static str,
    /// Told [`Inner::status`] whenever it changes.
    on_change: Option<OnChange>,
    /// Down once the worker failed: what it would have drawn goes elsewhere.
    link: Link,
    /// The serial of the last generator sent for each model, and the models
    /// whose last one the worker has built.
    latest: HashMap<ModelKind, u64>,
    holds: HashSet<ModelKind>,
    /// The models whose current generator has been sent: a draw asked now
    /// comes after it, whether or not the worker has built it yet.
    sent: HashSet<ModelKind>,
    serial: u64,
    /// Draws under way.
    draws: Requests,
}

impl Inner {
    /// "starting", "failed", or the models whose generators it holds, e.g. "gan pggan".
    fn status(&self) -> String {
        match (self.link.is_up(), self.link.is_ready()) {
            (false, _) => "failed".into(),
            (true, false) => "starting".into(),
            (true, true) => ModelKind::ALL
                .into_iter()
                .filter(|k| self.holds.contains(k))
                .map(ModelKind::name)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    fn changed(&self) {
        if let Some(on_change) = &self.on_change {
            on_change(&self.status());
        }
    }

    fn send(&mut self, message: JsValue, transfer: JsValue) {
        if self.link.is_up()
            && let Err(e) = self.link.send(message, transfer)
        {
            self.fail(&e);
        }
    }

    /// The worker is gone: it is asked for nothing more (`has`, `holds`
    /// answer false), and the draws under way are refused.
    fn fail(&mut self, reason: &str) {
        web_sys::console::warn_1(&format!("{} stopped: {reason}", self.name).into());
        self.link.close();
        self.holds.clear();
        self.sent.clear();
        self.draws.fail_all(reason);
        self.changed();
    }

    fn receive(&mut self, data: JsValue) {
        match field(&data, "op").as_string().as_deref() {
            Some("ready") => {
                if let Err(e) = self.link.listening() {
                    self.fail(&e);
                }
                self.changed();
            }
            Some("loaded") => {
                let model = field(&data, "model").as_string().and_then(|m| ModelKind::named(&m));
                let serial = field(&data, "serial").as_f64().map(|s| s as u64);
                match (model, field(&data, "error").as_string()) {
                    (Some(model), None) if serial.is_some() && self.latest.get(&model).copied() == serial => {
                        self.holds.insert(model);
                        self.changed();
                    }
                    (_, Some(error)) => web_sys::console::warn_1(&format!("{}: {error}", self.name).into()),
                    _ => {} // a generator replaced since
                }
            }
            Some("drawn" | "walked") => {
                if let Some(error) = field(&data, "error").as_string() {
                    web_sys::console::warn_1(&format!("{}: {error}", self.name).into());
                }
                self.draws.settle(&data);
            }
            // The first digits, drawn for index.html (the page draws its own).
            Some("first") => {}
            // From its loader (`web/worker/drawer_loader.js`): the module did not load.
            Some("failed") => {
                let error = field(&data, "error").as_string();
                self.fail(error.as_deref().unwrap_or("its module did not load"));
            }
            _ => web_sys::console::warn_1(&format!("{} said something unexpected", self.name).into()),
        }
    }
}

impl Drawer {
    /// Starts the CPU worker, or adopts the one `index.html` started;
    /// `on_change` is told its status (see [`Inner::status`]) whenever that
    /// changes.
    pub fn start(handoff: Option<Handoff>, on_change: impl Fn(&str) + 'static) -> Drawer {
        Self::start_from(LOADER, "the drawing worker", handoff, on_change)
    }

    /// Starts the WebGPU worker: it says `ready` once its device has started.
    pub fn start_webgpu(on_change: impl Fn(&str) + 'static) -> Drawer {
        Self::start_from(WEBGPU_LOADER, "the WebGPU worker", None, on_change)
    }

    fn start_from(
        loader: &str,
        name: &'static str,
        handoff: Option<Handoff>,
        on_change: impl Fn(&str) + 'static,
    ) -> Drawer {
        let drawer = Drawer(Rc::default());
        drawer.0.borrow_mut().name = name;
        drawer.0.borrow_mut().on_change = Some(Box::new(on_change));
        let (worker, said) = match handoff {
            Some(Handoff { worker, messages, .. }) => (worker, messages),
            None => match Worker::new(loader) {
                Ok(worker) => (worker, Vec::new()),
                Err(e) => {
                    drawer.0.borrow_mut().fail(&js_message(e));
                    return drawer;
                }
            },
        };
        let (inner, failed) = (drawer.0.clone(), drawer.0.clone());
        listen_to(
            &worker,
            move |data| inner.borrow_mut().receive(data),
            move || failed.borrow_mut().fail("its script failed to load or run"),
        );
        drawer.0.borrow_mut().link = Link::new(worker);
        for data in said {
            drawer.0.borrow_mut().receive(data);
        }
        drawer
    }

    /// Sends the worker the generator now in `kind`'s slot: a weights file
    /// the page has checked, and its model's description.
    pub fn load(&self, kind: ModelKind, config: &ModelConfig, bytes: &[u8]) {
        let serial = self.forget(kind);
        let config = serde_json::to_string(config).unwrap_or_default();
        let bytes = Uint8Array::from(bytes);
        let fields = [
            ("op", "load".into()),
            ("serial", (serial as f64).into()),
            ("config", config.into()),
            ("bytes", bytes.clone().into()),
        ];
        let mut inner = self.0.borrow_mut();
        inner.send(message(&fields), bytes.buffer().into());
        if inner.link.is_up() {
            inner.sent.insert(kind);
        }
    }

    /// `kind`'s slot holds a generator the worker does not have (yet): what
    /// it answers for earlier ones is ignored. The generator's serial.
    pub fn forget(&self, kind: ModelKind) -> u64 {
        let mut inner = self.0.borrow_mut();
        inner.serial += 1;
        let serial = inner.serial;
        inner.latest.insert(kind, serial);
        inner.holds.remove(&kind);
        inner.sent.remove(&kind);
        inner.changed();
        serial
    }

    /// The worker has built `kind`'s current generator.
    pub fn holds(&self, kind: ModelKind) -> bool {
        let inner = self.0.borrow();
        inner.link.is_ready() && inner.holds.contains(&kind)
    }

    /// The worker has, or is building, `kind`'s current generator: a draw
    /// asked now is drawn with it (the worker takes messages in order).
    pub fn has(&self, kind: ModelKind) -> bool {
        let inner = self.0.borrow();
        inner.link.is_up() && inner.sent.contains(&kind)
    }

    /// Asks the worker for `op` on `kind`'s digits for `seed` (with `more`
    /// fields); its answer, once it comes.
    async fn ask(&self, op: &str, kind: ModelKind, seed: u64, more: &[(&str, JsValue)]) -> Result<JsValue, String> {
        let promise = {
            let mut inner = self.0.borrow_mut();
            let (id, promise) = inner.draws.open();
            let fields = [
                ("op", op.into()),
                ("id", id.into()),
                ("model", kind.name().into()),
                ("seed", seed.to_string().into()),
            ];
            inner.send(message(&[&fields[..], more].concat()), JsValue::UNDEFINED);
            promise
        };
        answer(promise).await
    }

    /// The grid of `kind`'s digits for `seed`, drawn in the worker.
    pub async fn draw(&self, kind: ModelKind, seed: u64) -> Result<Gray, String> {
        let data = self.ask("draw", kind, seed, &[]).await?;
        let name = self.0.borrow().name;
        picture(&data).ok_or_else(|| format!("{name} answered with a malformed picture"))
    }

    /// The frames of the latent walk between two digits of the grid of
    /// `kind`'s digits for `seed`, drawn in the worker.
    pub async fn walk(&self, kind: ModelKind, seed: u64, ends: WalkEnds) -> Result<Vec<Gray>, String> {
        let more = [("from", (ends.from as u32).into()), ("to", (ends.to as u32).into())];
        let data = self.ask("walk", kind, seed, &more).await?;
        let frames = field(&data, "frames").as_f64().unwrap_or(0.0) as usize;
        let name = self.0.borrow().name;
        let malformed = || format!("{name} answered with malformed frames");
        let strip = picture(&data).filter(|s| frames > 0 && s.height % frames == 0).ok_or_else(malformed)?;
        let size = strip.pixels.len() / frames;
        let height = strip.height / frames;
        Ok(strip.pixels.chunks(size).map(|p| Gray { width: strip.width, height, pixels: p.to_vec() }).collect())
    }
}
