//! The page's training worker: runs "Train here" on burn's CPU backend in a
//! Web Worker, so that the page's main thread only shows the run and answers
//! the user (a conv step takes ~1.3 s of CPU). The run and its loop are
//! `page-training`'s, the same the page drives itself on WebGPU.
//!
//! [`Trainer`] is the logic, tested on the host; on wasm, `worker` wires it to
//! the worker's messages (the page's end is `web/src/page/train/worker.rs`):
//!
//! - to the worker: `{op: "start", model, settings, data, generator,
//!   discriminator}` (`settings` as JSON, `data` the MNIST images file's
//!   bytes, the shipped pair's bytes to fine-tune or null), `{op: "act",
//!   action}` (`pause`, `resume` or `stop`), and `{op: "weights", id}`;
//! - from it: `{op: "ready"}` once it listens, `{op: "started", error}`,
//!   `{op: "report", report}` (a `page_training::Report` as JSON), `{op:
//!   "preview", width, height, pixels, error}`, `{op: "busy"}` when its step
//!   loop starts and `{op: "idle"}` once it has ended (the run paused or
//!   over, everything reported), `{op: "acted",
//!   error}`, `{op: "weights", id, bytes, error}` (the generator as a
//!   safetensors file with the run's facts), and from its loader
//!   (`train_worker_loader.js`), `{op: "failed", error}` when this module did not load.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::*;
use page_training::{Action, DATA_URL, Run, Settings, start_run};
use shared::ModelKind;

/// The worker's run, if one was started, and the device it trains on.
pub struct Trainer {
    device: Device,
    pub run: Option<Rc<RefCell<Run>>>,
}

impl Default for Trainer {
    /// On burn's CPU backend.
    fn default() -> Self {
        Self::on(Device::flex())
    }
}

impl Trainer {
    /// Trains on `device` (the WebGPU worker's, `web/gpu-worker`).
    pub fn on(device: Device) -> Self {
        Self { device, run: None }
    }

    /// Sets up a run from the page's message, in place of the last one.
    pub fn start(
        &mut self,
        model: &str,
        settings: &str,
        data: &[u8],
        pair: Option<(&[u8], &[u8])>,
    ) -> Result<Rc<RefCell<Run>>, String> {
        let kind = ModelKind::named(model).ok_or_else(|| format!("no model named {model:?}"))?;
        let settings: Settings =
            serde_json::from_str(settings).map_err(|e| format!("the run's settings do not parse: {e}"))?;
        let images = shared::mnist::decode_images(DATA_URL, data).map_err(|e| format!("{DATA_URL}: {e}"))?;
        let run = Rc::new(RefCell::new(start_run(settings, kind, &images, pair, &self.device)?));
        self.run = Some(run.clone());
        Ok(run)
    }

    /// Applies a button press: `pause`, `resume` or `stop`.
    pub fn act(&self, action: &str) -> Result<Action, String> {
        let action: Action =
            serde_json::from_value(action.into()).map_err(|_| format!("no action named {action:?}"))?;
        let run = self.run.as_ref().ok_or("no run to act on")?;
        run.borrow_mut().act(action)?;
        Ok(action)
    }

    /// The run's generator as it is now, as a weights file with its facts.
    pub fn weights(&self) -> impl Future<Output = Result<Vec<u8>, String>> + 'static + use<> {
        let file = self.run.as_ref().map(|run| run.borrow().weights_file());
        async move { file.ok_or("no run has trained a generator")?.await }
    }
}

#[cfg(target_arch = "wasm32")]
pub mod worker {
    use std::cell::RefCell;
    use std::rc::Rc;

    use js_sys::{Promise, Uint8Array};
    use page_training::{Action, Event, drive};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::{JsFuture, spawn_local};
    use web_sys::DedicatedWorkerGlobalScope;

    use worker_messages::field;

    use super::Trainer;

    pub struct State {
        scope: DedicatedWorkerGlobalScope,
        trainer: Trainer,
        /// The step loop is going; a resume must not start a second one.
        looping: bool,
    }

    pub type Shared = Rc<RefCell<State>>;

    /// A worker that trains with `trainer`, answering through `scope`.
    pub fn serve(scope: &DedicatedWorkerGlobalScope, trainer: Trainer) -> Shared {
        Rc::new(RefCell::new(State { scope: scope.clone(), trainer, looping: false }))
    }

    fn bytes(data: &JsValue, key: &str) -> Option<Vec<u8>> {
        field(data, key).dyn_into::<Uint8Array>().ok().map(|a| a.to_vec())
    }

    fn error(result: Result<(), String>) -> JsValue {
        result.err().map(JsValue::from).unwrap_or(JsValue::NULL)
    }

    /// Posts `{key: value, ...}` to the page, handing over `transfer` if given.
    fn post(scope: &DedicatedWorkerGlobalScope, fields: &[(&str, JsValue)], transfer: Option<JsValue>) {
        worker_messages::post(scope, "the training worker", fields, transfer);
    }

    fn show(scope: &DedicatedWorkerGlobalScope, event: Event) {
        match event {
            Event::Report(report) => {
                let json = serde_json::to_string(&report).expect("a report serialises");
                post(scope, &[("op", "report".into()), ("report", json.into())], None);
            }
            Event::Preview(drawn) => {
                let picture = drawn.as_ref().map(|p| (p.width, p.height, p.pixels.as_slice())).map_err(Clone::clone);
                worker_messages::post_picture(scope, "the training worker", &[("op", "preview".into())], picture);
            }
        }
    }

    /// A turn of the worker's event loop, for the messages waiting.
    async fn next_turn(scope: &DedicatedWorkerGlobalScope) {
        let promise = Promise::new(&mut |resolve, _| {
            let _ = scope.set_timeout_with_callback(&resolve);
        });
        let _ = JsFuture::from(promise).await;
    }

    /// Drives the run until it pauses or ends, then says so.
    fn spawn_loop(state: &Shared) {
        {
            let mut s = state.borrow_mut();
            if s.looping {
                return; // the running loop carries on
            }
            s.looping = true;
            post(&s.scope, &[("op", "busy".into())], None);
        }
        let state = state.clone();
        spawn_local(async move {
            let scope = state.borrow().scope.clone();
            let run = state.borrow().trainer.run.clone();
            if let Some(run) = run {
                loop {
                    drive(&run, |event| show(&scope, event), || next_turn(&scope)).await;
                    // Resumed while the loop was winding down: go on.
                    if !run.borrow().wants_step() {
                        break;
                    }
                }
            }
            state.borrow_mut().looping = false;
            post(&scope, &[("op", "idle".into())], None);
        });
    }

    /// Answers a training request (`start`, `act`, `weights`); false for any other message.
    pub fn handle(state: &Shared, data: &JsValue) -> bool {
        let scope = state.borrow().scope.clone();
        let data = data.clone();
        match field(&data, "op").as_string().as_deref() {
            Some("start") => {
                let started = if state.borrow().looping {
                    Err("a run is still going".to_string())
                } else {
                    let (model, settings) = (field(&data, "model"), field(&data, "settings"));
                    let data_bytes = bytes(&data, "data").unwrap_or_default();
                    let pair = bytes(&data, "generator").zip(bytes(&data, "discriminator"));
                    let pair = pair.as_ref().map(|(g, d)| (g.as_slice(), d.as_slice()));
                    let mut s = state.borrow_mut();
                    let (model, settings) =
                        (model.as_string().unwrap_or_default(), settings.as_string().unwrap_or_default());
                    s.trainer.start(&model, &settings, &data_bytes, pair).map(|_| ())
                };
                let ok = started.is_ok();
                post(&scope, &[("op", "started".into()), ("error", error(started))], None);
                if ok {
                    spawn_loop(state);
                }
            }
            Some("act") => {
                let action = field(&data, "action").as_string().unwrap_or_default();
                let acted = state.borrow().trainer.act(&action);
                if let (Ok(_), Some(run)) = (&acted, state.borrow().trainer.run.as_ref()) {
                    // The new phase at once, before the step under way ends.
                    let run = run.borrow();
                    show(&scope, Event::Report(run.report(run.chart.len())));
                }
                let resumed = acted == Ok(Action::Resume);
                post(&scope, &[("op", "acted".into()), ("error", error(acted.map(|_| ())))], None);
                if resumed {
                    spawn_loop(state);
                }
            }
            Some("weights") => {
                let id = field(&data, "id");
                let saving = state.borrow().trainer.weights();
                spawn_local(async move {
                    match saving.await {
                        Ok(file) => {
                            let file = Uint8Array::from(file.as_slice());
                            let fields = [
                                ("op", "weights".into()),
                                ("id", id),
                                ("bytes", file.clone().into()),
                                ("error", JsValue::NULL),
                            ];
                            post(&scope, &fields, Some(file.buffer().into()));
                        }
                        Err(e) => post(&scope, &[("op", "weights".into()), ("id", id), ("error", e.into())], None),
                    }
                });
            }
            _ => return false,
        }
        true
    }

    /// The CPU training worker's entry point; the WebGPU worker has its own.
    #[cfg(feature = "entry")]
    #[wasm_bindgen(start)]
    pub fn start() {
        console_error_panic_hook::set_once();
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let state = serve(&scope, Trainer::default());
        let answer = scope.clone();
        let on_message = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if !handle(&state, &event.data()) {
                worker_messages::post_unknown(&answer, "the training worker");
            }
        });
        scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget(); // the worker lives as long as the page
        post(&scope, &[("op", "ready".into())], None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<u8> {
        std::fs::read(format!("{}/../{DATA_URL}", env!("CARGO_MANIFEST_DIR"))).expect("the page's MNIST subset")
    }

    fn settings(steps: usize) -> String {
        let settings = Settings::parse(page_training::Start::Scratch, &steps.to_string(), "4", "2e-4", 3).unwrap();
        serde_json::to_string(&settings).unwrap()
    }

    #[test]
    fn a_run_started_by_message_trains_and_gives_its_weights() {
        let mut trainer = Trainer::default();
        let run = trainer.start("gan", &settings(3), &data(), None).unwrap();
        for _ in 0..3 {
            run.borrow_mut().step();
        }
        let file = pollster::block_on(trainer.weights()).unwrap();
        let (_, info) = shared::weights::load_generator(&file, Some(ModelKind::Gan), &Device::flex()).unwrap();
        assert_eq!(info.training.unwrap().steps, 3);
        assert_eq!(trainer.act("pause").unwrap_err(), "cannot pause a run that is finished");
    }

    #[test]
    fn bad_messages_say_what_is_wrong() {
        let mut trainer = Trainer::default();
        assert_eq!(trainer.act("pause").unwrap_err(), "no run to act on");
        assert_eq!(pollster::block_on(trainer.weights()).unwrap_err(), "no run has trained a generator");
        assert_eq!(trainer.start("vae", &settings(3), &data(), None).err().unwrap(), "no model named \"vae\"");
        assert!(trainer.start("gan", "{", &data(), None).err().unwrap().starts_with("the run's settings do not parse"));
        assert!(trainer.start("gan", &settings(3), &data()[..100], None).err().unwrap().starts_with(DATA_URL));
        let run = trainer.start("gan", &settings(3), &data(), None).unwrap();
        assert_eq!(trainer.act("faster").unwrap_err(), "no action named \"faster\"");
        assert_eq!(trainer.act("pause"), Ok(Action::Pause));
        assert_eq!(run.borrow().phase().name(), "paused");
    }
}
