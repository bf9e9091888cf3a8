//! The page's end of its training worker: the CPU one (`web/train-worker`),
//! or on WebGPU the WebGPU worker (`web/gpu-worker`), which answers the same
//! messages. Runs train there, off the page's main thread; the page shows
//! what it reports. Started with the first run, so that visitors who do not
//! train never download it. The messages are described in
//! `web/train-worker/src/lib.rs`.

use std::rc::Rc;

use js_sys::Uint8Array;
use shared::ModelKind;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::Worker;

use super::super::channel::{Link, Requests, answer, field, listen_to, message, picture};
use super::super::drawer::WEBGPU_LOADER;
use super::super::{Page, Shared, js_message};
use super::panel::{controls, status};
use super::{Backing, loop_ended, not_started, show, started};
use crate::training::{Event, Phase, Report, Settings};

/// The CPU worker's entry point, `web/train-worker/train_worker_loader.js`, beside the page.
const LOADER: &str = "train_worker_loader.js";

#[derive(Default)]
pub(super) struct TrainWorker {
    link: Link,
    /// It is the WebGPU worker.
    webgpu: bool,
    /// Requests for the trained generator's file.
    files: Requests,
}

impl TrainWorker {
    /// Starts the worker (the WebGPU one if `webgpu`); `receive` gets its
    /// messages (and a `failed` one when its script does not run).
    pub(super) fn start(webgpu: bool, receive: impl Fn(JsValue) + Clone + 'static) -> Result<TrainWorker, String> {
        let worker = Worker::new(if webgpu { WEBGPU_LOADER } else { LOADER }).map_err(js_message)?;
        let failed = receive.clone();
        listen_to(&worker, receive, move || {
            failed(message(&[("op", "failed".into()), ("error", "its script failed to load or run".into())]));
        });
        Ok(TrainWorker { link: Link::new(worker), webgpu, files: Requests::default() })
    }

    pub(super) fn is_up(&self) -> bool {
        self.link.is_up()
    }

    /// For `data-trainwhere`.
    fn name(&self) -> &'static str {
        if self.webgpu { "webgpu-worker" } else { "worker" }
    }

    /// Sends `{op, ...fields}`, handing over `transfer` (an ArrayBuffer, or undefined).
    pub(super) fn send(&mut self, fields: &[(&str, JsValue)], transfer: JsValue) -> Result<(), String> {
        self.link.send(message(fields), transfer)
    }

    /// The worker listens: what waited goes now.
    pub(super) fn listening(&mut self) -> Result<(), String> {
        self.link.listening()
    }

    /// The answer to a request for the trained generator's file.
    pub(super) fn file_answered(&mut self, data: &JsValue) {
        self.files.settle(data);
    }

    /// The worker stopped: its run is lost.
    pub(super) fn fail(&mut self, reason: &str) {
        self.link.close();
        self.files.fail_all(reason);
    }

    /// Asks for the run's generator as a weights file; the promise of it.
    pub(super) fn ask_file(&mut self) -> Result<js_sys::Promise, String> {
        let (id, promise) = self.files.open();
        self.send(&[("op", "weights".into()), ("id", id.into())], JsValue::UNDEFINED)?;
        Ok(promise)
    }
}

/// The file a `weights` answer carries.
pub(super) async fn file(promise: js_sys::Promise) -> Result<Vec<u8>, String> {
    let data = answer(promise).await?;
    field(&data, "bytes")
        .dyn_into::<Uint8Array>()
        .map(|bytes| bytes.to_vec())
        .map_err(|_| "the training worker answered without a file".to_string())
}

/// The training worker for the page's device, started if it was not (in
/// place of one for the other device, its run superseded by the one
/// starting; on the CPU once a WebGPU one failed); false once a CPU one has
/// failed (the page then trains on its own CPU).
pub(super) fn worker_up(page: &Rc<Page>, state: &Shared) -> bool {
    let webgpu = state.borrow().gpu && !state.borrow().training.webgpu_failed;
    let other = state.borrow().training.worker.as_ref().is_some_and(|w| w.webgpu != webgpu);
    if other && let Some(mut worker) = state.borrow_mut().training.worker.take() {
        worker.fail("a run on another device took its place");
    }
    if state.borrow().training.worker.is_none() {
        let (p, s) = (page.clone(), state.clone());
        let worker = TrainWorker::start(webgpu, move |data| receive(&p, &s, data)).unwrap_or_else(|e| {
            web_sys::console::warn_1(&format!("the training worker did not start: {e}").into());
            TrainWorker::default()
        });
        state.borrow_mut().training.worker = Some(worker);
    }
    state.borrow().training.worker.as_ref().is_some_and(TrainWorker::is_up)
}

pub(super) fn send_to_worker(
    page: &Page,
    state: &Shared,
    settings: Settings,
    kind: ModelKind,
    file: &[u8],
    pair: Option<(Vec<u8>, Vec<u8>)>,
) {
    let json = serde_json::to_string(&settings).expect("settings serialise");
    let bytes = |b: &[u8]| JsValue::from(js_sys::Uint8Array::from(b));
    let (g, d) = pair.map_or((JsValue::NULL, JsValue::NULL), |(g, d)| (bytes(&g), bytes(&d)));
    let fields = [
        ("op", "start".into()),
        ("model", kind.name().into()),
        ("settings", json.into()),
        ("data", bytes(file)),
        ("generator", g),
        ("discriminator", d),
    ];
    let sent = {
        let mut s = state.borrow_mut();
        s.training.sent = Some((settings, kind));
        s.training.worker.as_mut().map_or(Err("no training worker".into()), |w| w.send(&fields, JsValue::UNDEFINED))
    };
    if let Err(e) = sent {
        not_started(page, state, &format!("the training worker: {e}"));
    }
}

/// What the training worker says.
fn receive(page: &Rc<Page>, state: &Shared, data: JsValue) {
    let error = field(&data, "error").as_string();
    match field(&data, "op").as_string().as_deref() {
        Some("ready") => {
            let listening = state.borrow_mut().training.worker.as_mut().map(TrainWorker::listening);
            if let Some(Err(e)) = listening {
                worker_failed(page, state, &e);
            }
        }
        Some("started") => match error {
            Some(e) => not_started(page, state, &e),
            None => {
                let Some((settings, kind)) = state.borrow_mut().training.sent.take() else { return };
                let where_ = state.borrow().training.worker.as_ref().map_or("worker", TrainWorker::name);
                state.borrow_mut().training.run = Some(Backing::Worker);
                started(page, state, settings, kind, where_);
            }
        },
        Some("report") => match serde_json::from_str::<Report>(&field(&data, "report").as_string().unwrap_or_default())
        {
            Ok(report) => show(page, state, Event::Report(report)),
            Err(e) => page.error(&format!("training: the worker's report does not parse: {e}")),
        },
        Some("preview") => {
            let picture = match error {
                Some(e) => Err(e),
                None => picture(&data).ok_or_else(|| "the training worker sent a malformed picture".to_string()),
            };
            show(page, state, Event::Preview(picture));
        }
        // The worker's step loop: told in order, so a resume's `busy` follows the last `idle`.
        Some("busy") => {
            let mut s = state.borrow_mut();
            s.training.looping = true;
            controls(page, &s.training);
            page.mark("trainbusy", "yes");
        }
        Some("idle") => loop_ended(page, state),
        Some("acted") => {
            if let Some(e) = error {
                status(page, &e);
            }
        }
        Some("weights") => {
            if let Some(worker) = state.borrow_mut().training.worker.as_mut() {
                worker.file_answered(&data);
            }
        }
        Some("failed") => worker_failed(page, state, error.as_deref().unwrap_or("it stopped")),
        _ => web_sys::console::warn_1(&"the training worker said something unexpected".into()),
    }
}

/// The worker stopped (its module did not load, or it crashed): a run it
/// had is lost; the next one trains in the CPU training worker if this was
/// the WebGPU one, else here.
fn worker_failed(page: &Page, state: &Shared, reason: &str) {
    let message = format!("the training worker stopped: {reason}");
    web_sys::console::warn_1(&message.clone().into());
    let mut s = state.borrow_mut();
    let webgpu = s.training.worker.as_ref().is_some_and(|w| w.webgpu);
    if let Some(worker) = s.training.worker.as_mut() {
        worker.fail(reason);
    }
    // After a WebGPU worker, the next run goes to the CPU training worker (`worker_up`).
    s.training.webgpu_failed |= webgpu;
    let next = if webgpu { "the CPU" } else { "this page" };
    if s.training.sent.take().is_some() {
        drop(s);
        return not_started(page, state, &format!("{message}; start again to train on {next}"));
    }
    let lost = matches!(s.training.run, Some(Backing::Worker));
    drop(s);
    if lost {
        let step = state.borrow().training.progress.as_ref().map_or(0, |p| p.step);
        let report = Report { step, phase: Phase::Failed(message), stage: None, d: Vec::new(), g: Vec::new() };
        show(page, state, Event::Report(report));
        loop_ended(page, state);
    }
}
