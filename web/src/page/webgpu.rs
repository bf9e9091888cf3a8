//! The switch to WebGPU: where the browser offers a WebGPU device, the
//! WebGPU worker (`web/gpu-worker`) starts in the background after the
//! first digits, builds the loaded generators and compiles their kernels
//! while the CPU worker keeps drawing; then the grid switches to it. All of
//! it runs off the main thread: the page only sends files and paints.

use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::Window;

use super::drawer::Drawer;
use super::{Page, Shared, js_message};

/// Calls `object.method()` and awaits the promise it returns.
async fn call_async(object: &JsValue, method: &str) -> Result<JsValue, String> {
    let function = Reflect::get(object, &method.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| format!("no {method}"))?;
    let promise = function.call0(object).map_err(js_message)?;
    JsFuture::from(Promise::from(promise)).await.map_err(js_message)
}

/// Whether the browser gives a WebGPU adapter and a device (tried, then
/// released): asked here, cheaply, before the WebGPU worker's module is
/// fetched. `Ok(false)`: no adapter; `Err`: why no device.
async fn webgpu_usable(window: &Window) -> Result<bool, String> {
    let Ok(gpu) = Reflect::get(&window.navigator(), &"gpu".into()) else { return Ok(false) };
    if gpu.is_undefined() || gpu.is_null() {
        return Ok(false);
    }
    let Ok(adapter) = call_async(&gpu, "requestAdapter").await else { return Ok(false) };
    if adapter.is_null() || adapter.is_undefined() {
        return Ok(false);
    }
    let device = call_async(&adapter, "requestDevice").await?;
    if let Some(destroy) = Reflect::get(&device, &"destroy".into()).ok().and_then(|f| f.dyn_into::<Function>().ok()) {
        let _ = destroy.call0(&device);
    }
    Ok(true)
}

/// Moves drawing to WebGPU where the browser has it: the WebGPU worker gets
/// each loaded generator and draws it once (compiling its kernels); then the
/// grid switches to it. The same seed draws the same digits.
pub(super) async fn upgrade_to_webgpu(page: &Rc<Page>, state: &Shared) {
    let cpu_reason = match webgpu_usable(&page.window).await {
        Ok(false) => "this browser offers no WebGPU adapter".to_string(),
        // JS errors carry their whole stack: the first line says what happened.
        Err(e) => format!("WebGPU failed to start: {}", e.lines().next().unwrap_or_default()),
        Ok(true) => {
            page.text("status", "Drawn on the CPU while WebGPU starts…");
            let gpu = {
                let page = page.clone();
                Drawer::start_webgpu(move |status| page.mark("gpudrawer", status))
            };
            let files = {
                let mut s = state.borrow_mut();
                s.gpu_drawer = Some(gpu.clone());
                s.files()
            };
            // Files that come later (the user's, a trained generator) follow `State::set_slot`.
            for (kind, config, bytes) in &files {
                gpu.load(*kind, config, bytes);
            }
            match warm_up(&gpu, &files).await {
                Ok(()) => {
                    let mut s = state.borrow_mut();
                    s.gpu = true;
                    s.description = "WebGPU".into();
                    page.mark("backend", "webgpu");
                    return;
                }
                Err(e) => format!("WebGPU failed to start: {e}"),
            }
        }
    };
    state.borrow_mut().description = format!("CPU ({cpu_reason})");
}

/// One grid of each model the worker got, which compiles its kernels.
async fn warm_up(gpu: &Drawer, files: &[(shared::ModelKind, shared::ModelConfig, Rc<Vec<u8>>)]) -> Result<(), String> {
    for (kind, _, _) in files {
        gpu.draw(*kind, 0).await?;
    }
    Ok(())
}
