//! The page's WebGPU worker: where the browser offers WebGPU, the page
//! starts this module in the background after its first digits, and it
//! draws and trains on burn's WebGPU device off the main thread (compiling
//! a model's kernels blocked the page for seconds when it ran there).
//!
//! It answers the messages of both CPU workers, the drawing worker's
//! (`web/worker`) and the training worker's (`web/train-worker`), with their
//! own code on its device; the page starts one instance to draw and, for a
//! run on WebGPU, another to train. Its first message is `{op: "ready"}` once
//! its device has started, or `{op: "failed", error}` when WebGPU did not
//! start (and, from its loader `gpu_worker_loader.js`, when this module did
//! not load).

#[cfg(target_arch = "wasm32")]
mod worker {
    use std::cell::RefCell;
    use std::rc::Rc;

    use burn::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::*;
    use wasm_bindgen_futures::spawn_local;
    use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

    use drawer::Drawer;
    use train_worker::Trainer;

    unsafe extern "C" {
        /// Synthesised by the linker: runs the static constructors (CubeCL
        /// registers its IR dialects with `inventory` in them).
        fn __wasm_call_ctors();
    }

    fn post(scope: &DedicatedWorkerGlobalScope, fields: &[(&str, JsValue)]) {
        worker_messages::post(scope, "the WebGPU worker", fields, None);
    }

    /// burn's WebGPU device, or why it did not start.
    async fn webgpu() -> Result<Device, String> {
        Device::wgpu_options().init_async().await.map_err(|e| {
            // JS errors carry their whole stack: the first line says what happened.
            e.to_string().lines().next().unwrap_or_default().to_string()
        })
    }

    #[wasm_bindgen(start)]
    pub fn start() {
        // Run the constructors once, here. Without an explicit call the linker
        // treats the module as a "command" and runs them again at the start of
        // every call from JavaScript into the wasm: every message, timer and
        // promise callback paid for hundreds of registrations.
        // SAFETY: called once, first thing, before any code that reads what they register.
        unsafe { __wasm_call_ctors() };
        console_error_panic_hook::set_once();
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        spawn_local(async move {
            let device = match webgpu().await {
                Ok(device) => device,
                Err(e) => return post(&scope, &[("op", "failed".into()), ("error", format!("WebGPU: {e}").into())]),
            };
            let drawing = Rc::new(RefCell::new(Drawer::on(device.clone())));
            let training = train_worker::worker::serve(&scope, Trainer::on(device));
            let answer = scope.clone();
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data();
                if !drawer::worker::handle(&answer, &drawing, &data) && !train_worker::worker::handle(&training, &data)
                {
                    worker_messages::post_unknown(&answer, "the WebGPU worker");
                }
            });
            scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget(); // the worker lives as long as the page
            drawer::worker::post_ready(&scope);
        });
    }
}
