//! The switch to WebGPU: where the browser offers an adapter, burn's wgpu
//! device starts and compiles its kernels while the CPU draws, then the page
//! draws on it.

use std::rc::Rc;

use burn::prelude::*;
use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Window;

use super::{Page, Shared};
use crate::app::{self, Slot};

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

/// Moves generation to WebGPU where the browser has it: each loaded
/// generator is copied to the GPU and warmed up there (compiling its
/// kernels) while the CPU keeps answering clicks; then the grid, the walk and
/// new training runs switch to it at once. The same seed draws the same digits.
pub(super) async fn upgrade_to_webgpu(page: &Rc<Page>, state: &Shared) {
    let started = if webgpu_adapter(&page.window).await {
        page.text("status", "Drawn on the CPU while WebGPU starts…");
        Device::wgpu_options().init_async().await.map(Some).map_err(|e| {
            // JS errors carry their whole stack: the first line says what happened.
            e.to_string().lines().next().unwrap_or_default().to_string()
        })
    } else {
        Ok(None)
    };
    let cpu_reason = match started {
        Ok(None) => "this browser offers no WebGPU adapter".to_string(),
        Err(reason) => format!("WebGPU failed to start: {reason}"),
        Ok(Some(gpu)) => match warm_up(state, &gpu).await {
            Ok(()) => {
                state.borrow_mut().switch_device(gpu, "WebGPU".into());
                page.mark("backend", "webgpu");
                return;
            }
            Err(e) => format!("WebGPU failed to draw: {e}"),
        },
    };
    state.borrow_mut().description = format!("CPU ({cpu_reason})");
}

/// One generation with a copy of each loaded generator on `device`, which
/// compiles its kernels there.
async fn warm_up(state: &Shared, device: &Device) -> Result<(), String> {
    let ready: Vec<_> = state
        .borrow()
        .slots
        .iter()
        .filter_map(|(_, slot)| match slot {
            Slot::Ready { generator, info, .. } => Some((generator.clone(), info.model.clone())),
            _ => None,
        })
        .collect();
    for (generator, config) in ready {
        app::draw_digits(&generator.to_device(device), &config, 0, device).await?;
    }
    Ok(())
}
