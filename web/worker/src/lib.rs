//! The page's CPU worker: holds a generator per model on burn's CPU backend
//! and draws grids of digits in a Web Worker, so that the page's main thread
//! only paints them and answers the user (a conv grid takes ~0.6 s of CPU).
//! A small module: no WebGPU (CubeCL), no autodiff, no optimiser.
//!
//! [`Drawer`] is the logic, tested on the host; on wasm, `worker` wires it to
//! the worker's messages, which carry plain data (the page's
//! `page::drawer` is the other end):
//!
//! - to the worker: `{op: "load", serial, config, bytes}` (a weights file the
//!   page has checked, and its model's description as JSON),
//!   `{op: "draw", id, model, seed}` (the seed as a decimal string: a u64 does
//!   not fit a JS number), `{op: "walk", id, model, seed, from, to}` (the
//!   latent walk between digits `from` and `to` of that grid), and `{op: "first", model, seed, unit, bytes}` (the
//!   address's `?model=` and `?seed=`, or null, a `Math.random()`: see
//!   [`shared::draw::first_choice`]; and the shipped weights file `index.html`
//!   guessed, or null), from `index.html`, which starts the worker before the
//!   page's own module has loaded;
//! - from it: `{op: "ready", limit}` once it listens (`limit`: the weights'
//!   size limit, for what `index.html` downloaded ahead), `{op: "loaded",
//!   serial, model, error}`, `{op: "drawn", id, width, height, pixels,
//!   error}` (the gray pixels' buffer is transferred, not copied), `{op:
//!   "walked", id, width, height, frames, pixels, error}` (the frames' pixels
//!   one after the other), and for
//!   `first` the same as `drawn` with `op: "first"` and the `model` and
//!   `seed` it chose (`first` also serves `index.html`'s controls until the
//!   page's module has loaded: a shipped model, loaded once, at a seed); and
//!   from its loader (`drawer_loader.js`), `{op: "failed", error}` when this
//!   module did not load.

use std::future::Future;

use burn::prelude::*;
use shared::draw::WalkEnds;
use shared::image::Gray;
use shared::{Generator, ModelConfig, ModelKind};

/// The generators the worker holds, the latest of each model.
pub struct Drawer {
    device: Device,
    generators: Vec<(Generator, ModelConfig)>,
}

impl Default for Drawer {
    /// On burn's CPU backend: the page's first module.
    fn default() -> Self {
        Self::on(Device::flex())
    }
}

impl Drawer {
    /// Draws on `device` (the WebGPU worker's, `web/gpu-worker`).
    pub fn on(device: Device) -> Self {
        Self { device, generators: Vec::new() }
    }

    /// Builds the generator `config` (JSON) describes from a weights file,
    /// in place of that model's previous one.
    pub fn load(&mut self, config: &str, bytes: &[u8]) -> Result<ModelKind, String> {
        let config: ModelConfig =
            serde_json::from_str(config).map_err(|e| format!("the model's description does not parse: {e}"))?;
        let generator = shared::weights::load_generator_as(bytes, &config, &self.device).map_err(|e| e.to_string())?;
        Ok(self.hold(generator, config))
    }

    /// Builds `kind`'s generator from a weights file with its description in
    /// its header, as the trainer writes them (the shipped weights).
    pub fn load_shipped(&mut self, kind: ModelKind, bytes: &[u8]) -> Result<(), String> {
        let (generator, info) =
            shared::weights::load_generator(bytes, Some(kind), &self.device).map_err(|e| e.to_string())?;
        self.hold(generator, info.model);
        Ok(())
    }

    /// Whether it holds a generator of `kind`.
    pub fn holds(&self, kind: ModelKind) -> bool {
        self.generators.iter().any(|(_, c)| c.kind() == kind)
    }

    /// Keeps `generator` in place of its model's previous one.
    fn hold(&mut self, generator: Generator, config: ModelConfig) -> ModelKind {
        let kind = config.kind();
        self.generators.retain(|(_, c)| c.kind() != kind);
        self.generators.push((generator, config));
        kind
    }

    /// `kind`'s generator and description, and the device, for a job that outlives the borrow.
    fn job(&self, kind: ModelKind) -> (Result<(Generator, ModelConfig), String>, Device) {
        let held = self.generators.iter().find(|(_, c)| c.kind() == kind).cloned();
        (held.ok_or_else(|| format!("no {} generator loaded in the worker", kind.name())), self.device.clone())
    }

    /// The grid of digits `kind`'s generator draws for `seed`: the page's
    /// grid, as on any other device.
    pub fn draw(&self, kind: ModelKind, seed: u64) -> impl Future<Output = Result<Gray, String>> + 'static + use<> {
        let (held, device) = self.job(kind);
        async move {
            let (generator, config) = held?;
            shared::draw::draw_digits(&generator, &config, seed, &device).await
        }
    }

    /// The frames of the latent walk between two digits of the grid of `seed`.
    pub fn walk(
        &self,
        kind: ModelKind,
        seed: u64,
        ends: WalkEnds,
    ) -> impl Future<Output = Result<Vec<Gray>, String>> + 'static + use<> {
        let (held, device) = self.job(kind);
        async move {
            let (generator, config) = held?;
            shared::draw::walk_frames(&generator, &config, seed, ends, &device).await
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub mod worker {
    use std::cell::RefCell;
    use std::rc::Rc;

    use fetch_limited::read_limited;
    use js_sys::{ArrayBuffer, Uint8Array};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::spawn_local;
    use web_sys::DedicatedWorkerGlobalScope;

    use shared::ModelKind;
    use shared::draw::{GRID_DIGITS, WalkEnds, first_choice, weights_url};
    use shared::image::Gray;
    use shared::weights::MAX_WEIGHTS_BYTES;
    use worker_messages::field;

    use super::Drawer;

    /// Posts `{key: value, ...}` to the page, handing over `transfer` if given.
    fn post(scope: &DedicatedWorkerGlobalScope, fields: &[(&str, JsValue)], transfer: Option<JsValue>) {
        worker_messages::post(scope, "the drawing worker", fields, transfer);
    }

    /// The first message: the worker listens (`limit`: the weights' size
    /// limit, for what `index.html` downloaded ahead).
    pub fn post_ready(scope: &DedicatedWorkerGlobalScope) {
        post(scope, &[("op", "ready".into()), ("limit", (MAX_WEIGHTS_BYTES as f64).into())], None);
    }

    fn error(message: Option<String>) -> JsValue {
        message.map(JsValue::from).unwrap_or(JsValue::NULL)
    }

    /// Posts `fields` with the picture's size and pixels (transferred), or with the error.
    fn post_picture(scope: &DedicatedWorkerGlobalScope, fields: &[(&str, JsValue)], drawn: Result<Gray, String>) {
        let picture = drawn.as_ref().map(|p| (p.width, p.height, p.pixels.as_slice())).map_err(Clone::clone);
        worker_messages::post_picture(scope, "the drawing worker", fields, picture);
    }

    /// The shipped weights file at `url` (relative to the worker's script,
    /// which lies beside the page), with the page's checks (`fetch-limited`).
    async fn fetch_bytes(scope: &DedicatedWorkerGlobalScope, url: &str) -> Result<Vec<u8>, String> {
        read_limited(scope.fetch_with_str(url), MAX_WEIGHTS_BYTES).await.map_err(|e| format!("{url}: {e}"))
    }

    /// A request's model and seed (a decimal string: a u64 does not fit a JS number).
    fn model_and_seed(data: &JsValue) -> Result<(ModelKind, u64), String> {
        let model = field(data, "model").as_string().and_then(|m| ModelKind::named(&m));
        let seed = field(data, "seed").as_string().and_then(|s| s.parse::<u64>().ok());
        model.zip(seed).ok_or_else(|| "a request needs a known model and a whole-number seed".to_string())
    }

    /// Answers a drawing request (`load`, `draw`, `walk`, `first`); false for any other message.
    pub fn handle(scope: &DedicatedWorkerGlobalScope, drawer: &Rc<RefCell<Drawer>>, data: &JsValue) -> bool {
        let data = data.clone();
        match field(&data, "op").as_string().as_deref() {
            Some("load") => {
                let config = field(&data, "config").as_string().unwrap_or_default();
                let bytes = field(&data, "bytes").dyn_into::<Uint8Array>().map(|a| a.to_vec()).unwrap_or_default();
                let loaded = drawer.borrow_mut().load(&config, &bytes);
                let model = loaded.as_ref().map(|k| JsValue::from(k.name())).unwrap_or(JsValue::NULL);
                let fields = [("op", "loaded".into()), ("serial", field(&data, "serial")), ("model", model)];
                post(scope, &[&fields[..], &[("error", error(loaded.err()))]].concat(), None);
            }
            Some("draw") => {
                let id = field(&data, "id");
                let job = model_and_seed(&data).map(|(model, seed)| drawer.borrow().draw(model, seed));
                let scope = scope.clone();
                spawn_local(async move {
                    let drawn = match job {
                        Ok(drawing) => drawing.await,
                        Err(e) => Err(e),
                    };
                    post_picture(&scope, &[("op", "drawn".into()), ("id", id)], drawn);
                });
            }
            Some("walk") => {
                let id = field(&data, "id");
                let cell = |key| field(&data, key).as_f64().filter(|c| (0.0..GRID_DIGITS as f64).contains(c));
                let job = match (model_and_seed(&data), cell("from"), cell("to")) {
                    (Ok((model, seed)), Some(from), Some(to)) => {
                        let ends = WalkEnds { from: from as usize, to: to as usize };
                        Ok(drawer.borrow().walk(model, seed, ends))
                    }
                    (Err(e), _, _) => Err(e),
                    _ => Err(format!("a walk goes between two digits of the grid, 0 to {}", GRID_DIGITS - 1)),
                };
                let scope = scope.clone();
                spawn_local(async move {
                    let walked = match job {
                        Ok(walking) => walking.await,
                        Err(e) => Err(e),
                    };
                    let fields = [("op", "walked".into()), ("id", id)];
                    match walked {
                        Ok(frames) => {
                            let count = (frames.len() as u32).into();
                            let all = frames.iter().flat_map(|f| f.pixels.iter().copied()).collect();
                            let (width, height) = frames.first().map_or((0, 0), |f| (f.width, f.height * frames.len()));
                            let strip = Gray { width, height, pixels: all };
                            post_picture(&scope, &[&fields[..], &[("frames", count)]].concat(), Ok(strip));
                        }
                        Err(e) => post_picture(&scope, &fields, Err(e)),
                    }
                });
            }
            Some("first") => {
                let (kind, seed) = first_choice(
                    field(&data, "model").as_string().as_deref(),
                    field(&data, "seed").as_string().as_deref(),
                    field(&data, "unit").as_f64().unwrap_or(0.0),
                );
                let guessed =
                    field(&data, "bytes").dyn_into::<ArrayBuffer>().ok().map(|b| Uint8Array::new(&b).to_vec());
                let (scope, drawer) = (scope.clone(), drawer.clone());
                spawn_local(async move {
                    let drawn = async {
                        // index.html's guess, if it is the model chosen; else the chosen one's
                        // file, unless an earlier request loaded it.
                        let guessed_right =
                            guessed.is_some_and(|bytes| drawer.borrow_mut().load_shipped(kind, &bytes).is_ok());
                        if !guessed_right && !drawer.borrow().holds(kind) {
                            let bytes = fetch_bytes(&scope, &weights_url(kind)).await?;
                            drawer.borrow_mut().load_shipped(kind, &bytes)?;
                        }
                        let drawing = drawer.borrow().draw(kind, seed);
                        drawing.await
                    };
                    let fields =
                        [("op", "first".into()), ("model", kind.name().into()), ("seed", seed.to_string().into())];
                    post_picture(&scope, &fields, drawn.await);
                });
            }
            _ => return false,
        }
        true
    }

    /// The CPU worker's entry point; the WebGPU worker has its own.
    #[cfg(feature = "entry")]
    #[wasm_bindgen(start)]
    pub fn start() {
        console_error_panic_hook::set_once();
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let drawer = Rc::new(RefCell::new(Drawer::default()));
        let answer = scope.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if !handle(&answer, &drawer, &event.data()) {
                worker_messages::post_unknown(&answer, "the drawing worker");
            }
        });
        scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget(); // the worker lives as long as the page
        // Messages that came before this point were dropped: the page waits for this one,
        // and reads the weights it fetched ahead only up to this limit.
        post_ready(&scope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(kind: ModelKind) -> (String, Vec<u8>) {
        let path = format!("{}/../weights/{}.safetensors", env!("CARGO_MANIFEST_DIR"), kind.name());
        let bytes = std::fs::read(path).expect("the shipped weights");
        let info = shared::weights::read_info(&bytes).unwrap();
        (serde_json::to_string(&info.model).unwrap(), bytes)
    }

    #[test]
    fn draws_what_the_page_draws_for_each_model() {
        let mut drawer = Drawer::default();
        for kind in ModelKind::ALL {
            let (config, bytes) = shipped(kind);
            assert!(!drawer.holds(kind));
            assert_eq!(drawer.load(&config, &bytes), Ok(kind));
            assert!(drawer.holds(kind));
            let drawn = pollster::block_on(drawer.draw(kind, 7)).unwrap();
            let device = Device::flex();
            let (generator, info) = shared::weights::load_generator(&bytes, Some(kind), &device).unwrap();
            let expected = pollster::block_on(shared::draw::draw_digits(&generator, &info.model, 7, &device)).unwrap();
            assert_eq!(drawn, expected, "{kind:?}");
            let ends = WalkEnds { from: 3, to: 12 };
            let walked = pollster::block_on(drawer.walk(kind, 7, ends)).unwrap();
            let frames = shared::draw::walk_frames(&generator, &info.model, 7, ends, &device);
            assert_eq!(walked, pollster::block_on(frames).unwrap(), "{kind:?}");
            // The first digits: the file alone, its header describing the model.
            let mut first = Drawer::default();
            first.load_shipped(kind, &bytes).unwrap();
            assert_eq!(pollster::block_on(first.draw(kind, 7)).unwrap(), expected, "{kind:?}");
        }
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let mut drawer = Drawer::default();
        let missing = pollster::block_on(drawer.draw(ModelKind::Pggan, 1)).unwrap_err();
        assert!(missing.contains("no pggan generator loaded"), "{missing}");
        let (config, bytes) = shipped(ModelKind::Gan);
        let bad = drawer.load("{", &bytes).unwrap_err();
        assert!(bad.contains("description does not parse"), "{bad}");
        let truncated = drawer.load(&config, &bytes[..100]).unwrap_err();
        assert!(!truncated.is_empty());
        let wrong = drawer.load_shipped(ModelKind::Pggan, &bytes).unwrap_err();
        assert!(wrong.contains("expected a pggan generator"), "{wrong}");
        assert_eq!(ModelKind::named("pggan"), Some(ModelKind::Pggan));
        assert_eq!(ModelKind::named("vae"), None);
    }
}
