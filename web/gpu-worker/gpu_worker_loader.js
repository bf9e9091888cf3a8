// The WebGPU worker's entry point, copied beside the page (index.html) in
// place of trunk's loader shim, as drawer_loader.js is for the drawing worker:
// a module that fails to load says so instead of leaving the page waiting.
importScripts('./gpu-worker.js');
wasm_bindgen('./gpu-worker_bg.wasm').catch((e) => postMessage({ op: 'failed', error: `its module did not load (${e})` }));
