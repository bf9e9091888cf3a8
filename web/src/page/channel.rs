//! What the page's two workers (drawing, training) have in common at the
//! page's end: messages as plain objects, starting a worker from its loader
//! script, and requests answered by id.

use std::collections::HashMap;

use js_sys::{Function, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{MessageEvent, Worker};

use super::js_message;

pub(super) use worker_messages::{field, message};

/// The grid a worker sent: `{width, height, pixels}`, gray levels; None if
/// they do not fit together.
pub(super) fn picture(data: &JsValue) -> Option<shared::image::Gray> {
    let (width, height) = (field(data, "width").as_f64()? as usize, field(data, "height").as_f64()? as usize);
    let pixels = field(data, "pixels").dyn_into::<js_sys::Uint8Array>().ok()?.to_vec();
    (width * height == pixels.len()).then_some(shared::image::Gray { width, height, pixels })
}

/// Has `worker` call `on_message` with each message's data and `on_error`
/// when its script fails, for as long as the page lives.
pub(super) fn listen_to(
    worker: &Worker,
    mut on_message: impl FnMut(JsValue) + 'static,
    on_error: impl FnMut() + 'static,
) {
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| on_message(event.data()));
    let mut on_error = on_error;
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| on_error());
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    on_message.forget();
    on_error.forget();
}

/// Requests under way: how to resolve and reject each.
#[derive(Default)]
pub(super) struct Requests {
    pending: HashMap<u32, (Function, Function)>,
    next_id: u32,
}

impl Requests {
    /// A new request's id, and the promise that its answer settles.
    pub(super) fn open(&mut self) -> (u32, Promise) {
        self.next_id = self.next_id.wrapping_add(1);
        let mut callbacks = None;
        let promise = Promise::new(&mut |resolve, reject| callbacks = Some((resolve, reject)));
        self.pending.insert(self.next_id, callbacks.expect("a promise runs its executor at once"));
        (self.next_id, promise)
    }

    /// Settles the request the answer `data` names by its `id`: rejected with
    /// its `error` if it has one, else resolved with `data`.
    pub(super) fn settle(&mut self, data: &JsValue) {
        let id = field(data, "id").as_f64().unwrap_or(-1.0) as u32;
        if let Some((resolve, reject)) = self.pending.remove(&id) {
            let _ = match field(data, "error").as_string() {
                Some(error) => reject.call1(&JsValue::NULL, &error.into()),
                None => resolve.call1(&JsValue::NULL, data),
            };
        }
    }

    /// Rejects every request under way: the worker will not answer.
    pub(super) fn fail_all(&mut self, reason: &str) {
        for (_, (_, reject)) in self.pending.drain() {
            let _ = reject.call1(&JsValue::NULL, &reason.into());
        }
    }
}

/// The answer a request's promise settles with, or its error.
pub(super) async fn answer(promise: Promise) -> Result<JsValue, String> {
    wasm_bindgen_futures::JsFuture::from(promise).await.map_err(js_message)
}

/// A worker, and the messages waiting until it says it listens.
#[derive(Default)]
pub(super) struct Link {
    /// None once it failed (or never started).
    worker: Option<Worker>,
    ready: bool,
    /// Messages (and the buffer each hands over) waiting for the worker to listen.
    held_back: Vec<(JsValue, JsValue)>,
}

impl Link {
    pub(super) fn new(worker: Worker) -> Self {
        Self { worker: Some(worker), ..Self::default() }
    }

    /// Started and not failed.
    pub(super) fn is_up(&self) -> bool {
        self.worker.is_some()
    }

    /// Up, and listening.
    pub(super) fn is_ready(&self) -> bool {
        self.ready && self.is_up()
    }

    /// Posts a message, handing over `transfer` (an ArrayBuffer, or
    /// undefined), or holds it back until the worker listens.
    pub(super) fn send(&mut self, message: JsValue, transfer: JsValue) -> Result<(), String> {
        match &self.worker {
            Some(worker) if self.ready => if transfer.is_undefined() {
                worker.post_message(&message)
            } else {
                worker.post_message_with_transfer(&message, &js_sys::Array::of1(&transfer))
            }
            .map_err(js_message),
            Some(_) => {
                self.held_back.push((message, transfer));
                Ok(())
            }
            None => Err("the worker has stopped".into()),
        }
    }

    /// The worker listens: what was held back goes now.
    pub(super) fn listening(&mut self) -> Result<(), String> {
        self.ready = true;
        std::mem::take(&mut self.held_back).into_iter().try_for_each(|(message, transfer)| self.send(message, transfer))
    }

    /// Ends the worker: it failed.
    pub(super) fn close(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.terminate();
        }
        self.held_back.clear();
    }
}
