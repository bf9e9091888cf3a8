//! Messages between the page and its workers (drawing, training) as plain
//! objects, `{op: "...", ...}`: what both ends of both workers share. Each
//! crate's documentation lists its own messages.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::DedicatedWorkerGlobalScope;

/// `data[key]`, undefined if it has none.
pub fn field(data: &JsValue, key: &str) -> JsValue {
    Reflect::get(data, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `{key: value, ...}`.
pub fn message(fields: &[(&str, JsValue)]) -> JsValue {
    let message = Object::new();
    for (key, value) in fields {
        let _ = Reflect::set(&message, &(*key).into(), value);
    }
    message.into()
}

/// Posts `{key: value, ...}` from a worker to the page, handing over
/// `transfer` (an ArrayBuffer) if given; a failure is logged in the name of
/// `worker` (e.g. "the drawing worker"), as the page can no longer be told.
pub fn post(scope: &DedicatedWorkerGlobalScope, worker: &str, fields: &[(&str, JsValue)], transfer: Option<JsValue>) {
    let message = message(fields);
    let sent = match transfer {
        Some(buffer) => scope.post_message_with_transfer(&message, &Array::of1(&buffer)),
        None => scope.post_message(&message),
    };
    if let Err(e) = sent {
        web_sys::console::error_2(&format!("{worker} could not answer:").into(), &e);
    }
}

/// Answers a message the worker does not know.
pub fn post_unknown(scope: &DedicatedWorkerGlobalScope, worker: &str) {
    post(scope, worker, &[("op", "error".into()), ("error", "unknown message".into())], None);
}

/// Posts `fields` with a picture of gray pixels, `width, height, pixels`
/// (their buffer handed over, not copied) and `error: null`, or with only
/// its `error`: how the workers send what they drew (the page's
/// `channel::picture` reads it back).
pub fn post_picture(
    scope: &DedicatedWorkerGlobalScope,
    worker: &str,
    fields: &[(&str, JsValue)],
    picture: Result<(usize, usize, &[u8]), String>,
) {
    match picture {
        Ok((width, height, pixels)) => {
            let pixels = Uint8Array::from(pixels);
            let picture = [
                ("width", (width as u32).into()),
                ("height", (height as u32).into()),
                ("pixels", pixels.clone().into()),
                ("error", JsValue::NULL),
            ];
            post(scope, worker, &[fields, &picture[..]].concat(), Some(pixels.buffer().into()));
        }
        Err(e) => post(scope, worker, &[fields, &[("error", e.into())]].concat(), None),
    }
}
