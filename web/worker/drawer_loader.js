// The CPU worker's entry point, copied beside the page (index.html) in place
// of trunk's loader shim: it loads the `drawer` module and, when that fails,
// says so. A module that fails to load inside a worker fires no `error` event
// at the page, which would otherwise wait for a worker that never answers.
importScripts('./drawer.js');
wasm_bindgen('./drawer_bg.wasm').catch((e) => postMessage({ op: 'failed', error: `its module did not load (${e})` }));
