// End-to-end test of the web demo in real headless Chromium, once with
// WebGPU (SwiftShader on a machine without a GPU) and once without it (the
// CPU fallback). Serves the built page, waits for the digits, clicks, switches
// model, compares the canvas with `trainer sample` for a fixed seed, checks
// the error messages, and saves a screenshot of each run. Then the rest of
// the page: a short training run in the page on both backends (and its
// download, checked by `trainer sample`), pause/resume/stop, fine-tuning,
// the latent walk, and the user's own weights files, dropped or chosen.
//
// usage: node tests/e2e/demo.mjs DIST_DIR TRAINER_BIN OUT_DIR
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve } from './serve.mjs';

const [dist, trainer, out] = process.argv.slice(2);
if (!dist || !trainer || !out) {
  console.error('usage: node demo.mjs DIST_DIR TRAINER_BIN OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SEED = 7;
const GAP = 2; // shared::image::GRID_GAP
const SIDES = { gan: 28, pggan: 32 };
// SwiftShader compiles shaders slowly: generous waits.
const TIMEOUT = 240_000;
// Clicks per model: timed five times on the CPU; once on SwiftShader, where a
// conv grid takes ~20 s and its time says nothing about a real GPU.
const CLICKS = { webgpu: 1, cpu: 5 };
// The small CPU worker draws the first digits before the page's own module
// loads (the debug build this test gets compiles slower than the shipped one).
const FIRST_DIGITS_MS = 3000;
// The longest main-thread task allowed while a worker draws grids or trains
// (in the debug build CI tests; a conv grid on the main thread took ~700 ms).
const LONG_TASK_MS = 200;
// The worker that draws and trains once the page has loaded, by mode.
const DRAWN_BY = { webgpu: 'webgpu-worker', cpu: 'worker' };

let failures = 0;
function check(ok, message) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures++;
}

// ---------------------------------------------------------------- server
const { server, base } = await serve(dist);

// ------------------------------------------------------------ pixel tools
/** A canvas as gray levels: {width, height, gray}. */
async function canvasPixels(page, id = 'digits') {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const gray = new Array(c.width * c.height);
    for (let i = 0; i < gray.length; i++) gray[i] = d[4 * i];
    return { width: c.width, height: c.height, gray };
  }, id);
}

/** The 64 digits of an 8x8 grid, one array of side*side levels each. */
function tiles(picture, side) {
  const out = [];
  for (let i = 0; i < 64; i++) {
    const x0 = GAP + (i % 8) * (side + GAP), y0 = GAP + Math.floor(i / 8) * (side + GAP);
    const t = [];
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) t.push(picture.gray[(y0 + y) * picture.width + x0 + x]);
    out.push(t);
  }
  return out;
}

/**
 * Digits look like MNIST: a dark background, bright strokes with few grey
 * pixels between, in (nearly) every tile, and smooth — not blank, not a grey
 * blob, not noise. Bounds from real MNIST and the shipped generators (see
 * selfTest below, which holds this to them).
 */
function plausible(digits, side) {
  let dark = 0, ink = 0, grey = 0, jumps = 0, n = 0, inked = 0;
  for (const t of digits) {
    let tileInk = 0;
    for (let i = 0; i < t.length; i++) {
      if (t[i] < 64) dark++;
      else if (t[i] > 160) { ink++; tileInk++; }
      else grey++;
      if (i % side) jumps += Math.abs(t[i] - t[i - 1]);
      n++;
    }
    if (tileInk / t.length > 0.04) inked++;
  }
  const stats = { dark: dark / n, ink: ink / n, grey: grey / n, jump: jumps / n, inked: inked / digits.length };
  const ok = stats.dark > 0.6 && stats.ink > 0.06 && stats.ink < 0.35 && stats.grey < 0.15 && stats.jump < 40
    && stats.inked >= 0.9;
  return { ok, stats: JSON.stringify(Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, +v.toFixed(3)]))) };
}

/** Pixels of D's (orange) and G's (blue) curve inside the chart's plot area (page/train.rs `draw_chart`). */
async function curvePixels(page) {
  return page.evaluate(() => {
    const c = document.getElementById('train-chart');
    const [left, top, bottom] = [38, 8, 18]; // the legend lies below the plot area
    const d = c.getContext('2d').getImageData(left, top, c.width - left - 8, c.height - top - bottom);
    const near = (i, [r, g, b]) => Math.abs(d.data[i] - r) + Math.abs(d.data[i + 1] - g) + Math.abs(d.data[i + 2] - b) < 60;
    let orange = 0, blue = 0;
    for (let i = 0; i < d.data.length; i += 4) {
      if (near(i, [0xf0, 0xa0, 0x40])) orange++;
      if (near(i, [0x60, 0xb0, 0xff])) blue++;
    }
    return { d: orange, g: blue };
  });
}

/** The plausibility check holds real digits and refuses what is not: checked before it is used. */
function selfTest() {
  const idx = zlib.gunzipSync(fs.readFileSync(path.join(dist, 'data', 't10k-images-idx3-ubyte.gz')));
  const real = Array.from({ length: 64 }, (_, i) => Array.from(idx.subarray(16 + i * 784, 16 + (i + 1) * 784)));
  const fill = (f) => Array.from({ length: 64 }, (_, k) => Array.from({ length: 784 }, (_, i) => f(i, k)));
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const cases = [
    ['real MNIST digits', real, true],
    ['blank tiles', fill(() => 0), false],
    // What the old check let through: 62 % dark, 4 % ink, the rest grey.
    ['a grey blob with 4 % ink', fill((i) => (i % 100 < 62 ? 0 : i % 100 < 66 ? 200 : 128)), false],
    ['noise', fill(() => Math.floor(random() * 256)), false],
    ['ink in one tile of 64', fill((i, k) => (k === 0 ? real[0][i] : 0)), false],
  ];
  for (const [name, digits, expected] of cases) {
    const p = plausible(digits, 28);
    check(p.ok === expected, `the digit check ${expected ? 'accepts' : 'refuses'} ${name} ${p.stats}`);
  }
}
selfTest();

/** `trainer sample` of a weights file for SEED, as 64 digits. */
function sampleFile(weights, side) {
  const raw = path.join(os.tmpdir(), `mnist-gan-e2e-${path.basename(weights)}.raw`);
  const png = path.join(os.tmpdir(), `mnist-gan-e2e-${path.basename(weights)}.png`);
  execFileSync(trainer, ['sample', '--weights', weights,
    '--seed', String(SEED), '--count', '64', '--out', png, '--raw', raw], { stdio: 'pipe' });
  const bytes = fs.readFileSync(raw);
  return Array.from({ length: 64 }, (_, i) => Array.from(bytes.subarray(i * side * side, (i + 1) * side * side)));
}

/** `trainer sample` for the shipped file of `model`. */
function native(model) {
  return sampleFile(path.join(dist, 'weights', `${model}.safetensors`), SIDES[model]);
}

function compare(a, b) {
  let sum = 0, far = 0, n = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) {
    const d = Math.abs(a[i][j] - b[i][j]);
    sum += d; if (d > 8) far++; n++;
  }
  return { mean: sum / n, far: far / n };
}

// --------------------------------------------------------------- browser
const baseArgs = ['--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

async function withPage(mode, fn) {
  // Playwright gives each browser a fresh temporary profile.
  const args = [...baseArgs, ...(mode === 'webgpu' ? ['--enable-unsafe-webgpu'] : [])];
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  try {
    const page = await browser.newPage({ viewport: { width: 800, height: 900 } });
    // The main thread's long tasks, for the checks that it stays responsive.
    await page.addInitScript(() => {
      window.__longtasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longtasks.push(e.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    // Every wasm module fetched, the worker's included, in order.
    page.wasmFetched = [];
    page.on('request', (r) => { if (r.url().endsWith('.wasm')) page.wasmFetched.push(path.basename(new URL(r.url()).pathname)); });
    page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') console.log(`  [console] ${m.text()}`); });
    return await fn(page);
  } finally {
    await browser.close();
  }
}

const dataset = (page) => page.evaluate(() => ({ ...document.body.dataset }));
/** Every model has loaded or failed (the chosen one draws before the others load). */
async function waitLoaded(page) {
  await page.waitForFunction(() => document.body.dataset.loaded === 'all', null, { timeout: TIMEOUT });
}
async function waitGeneration(page, atLeast) {
  await page.waitForFunction((n) => Number(document.body.dataset.generation || 0) >= n
    || document.body.dataset.state === 'error', atLeast, { timeout: TIMEOUT });
  return dataset(page);
}

const report = { wasm: {}, runs: {} };
for (const f of fs.readdirSync(dist)) {
  if (f.endsWith('.wasm')) report.wasm[f] = fs.statSync(path.join(dist, f)).size;
}
// Only the WebGPU worker's module has WebGPU code: no wgpu names in the
// debug build's name section of the others (the first module, the page's).
{
  const names = (f) => fs.readFileSync(path.join(dist, f)).toString('latin1');
  const worker = names('drawer_bg.wasm');
  const trainer = names('train-worker_bg.wasm');
  const gpu = names('gpu-worker_bg.wasm');
  const pageModule = Object.keys(report.wasm).find((f) => f.startsWith('web-'));
  check(worker.includes('burn_flex') && !worker.includes('wgpu'),
    'the first module (drawer_bg.wasm) has burn\'s CPU backend and no wgpu code');
  check(!names(pageModule).includes('wgpu'), `the page's module (${pageModule}) has no wgpu code`);
  check(trainer.includes('burn_autodiff') && !trainer.includes('wgpu'),
    'the training worker\'s module (train-worker_bg.wasm) has autodiff and no wgpu code');
  check(gpu.includes('wgpu') && gpu.includes('burn_autodiff'),
    'the WebGPU worker\'s module (gpu-worker_bg.wasm) has wgpu and autodiff');
}

for (const mode of ['webgpu', 'cpu']) {
  console.log(`== ${mode}`);
  await withPage(mode, async (page) => {
    const run = { clicks: {} };
    const t0 = Date.now();
    await page.goto(`${base}/?seed=${SEED}`);
    let d = await waitGeneration(page, 1);
    run.first_digits_ms = Number(d.firstms);
    run.wall_to_first_digits_ms = Date.now() - t0;
    check(d.state === 'ready', `${mode}: page ready (state=${d.state})`);
    // The CPU draws first, WebGPU or not; WebGPU takes over once it is ready.
    check(d.backend === 'cpu', `${mode}: the first digits are drawn on the CPU (backend ${d.backend})`);
    check(run.first_digits_ms <= FIRST_DIGITS_MS,
      `${mode}: first digits ${run.first_digits_ms} ms after navigation (at most ${FIRST_DIGITS_MS})`);
    check(d.firstby === 'worker', `${mode}: the first digits were drawn by the worker, before the page loaded (${d.firstby})`);
    check(page.wasmFetched[0] === 'drawer_bg.wasm',
      `${mode}: the first wasm fetched is the worker's (${page.wasmFetched.join(', ')})`);
    await waitLoaded(page);
    run.all_loaded_ms = Date.now() - t0;
    d = await dataset(page);
    check(d.backend === mode, `${mode}: backend in use once loaded is ${d.backend}`);
    const errors = await page.textContent('#errors');
    check(errors.trim() === '', `${mode}: no errors shown (${errors.trim() || 'none'})`);
    if (mode === 'cpu') {
      // The CPU worker holds both shipped generators, and draws from then on.
      await page.waitForFunction(() => ['gan pggan', 'failed'].includes(document.body.dataset.drawer), null, { timeout: TIMEOUT });
      d = await dataset(page);
      check(d.drawer === 'gan pggan', `cpu: the drawing worker holds both generators (${d.drawer})`);
    }

    let generation = Number(d.generation);
    for (const model of ['gan', 'pggan']) {
      if (model === 'pggan') {
        await page.click('#model-pggan');
        d = await waitGeneration(page, ++generation);
        check(d.model === 'pggan', `${mode}: switched to ${d.model}`);
      }
      // The seed drawn again on the backend now in use. Set from script: the
      // field may hold it already, when typing it would fire no `change`.
      await page.evaluate((seed) => {
        const field = document.getElementById('seed');
        field.value = seed;
        field.dispatchEvent(new Event('change'));
      }, String(SEED));
      d = await waitGeneration(page, ++generation);
      generation = Number(d.generation);
      check(d.backend === mode && d.seed === String(SEED), `${mode}/${model}: seed ${d.seed} drawn on ${d.backend}`);
      const side = SIDES[model];
      // The shipped weights' header facts, in words.
      const originText = await page.textContent('#origin');
      const how = model === 'gan' ? 'at full size throughout' : 'grown from 4x4';
      check(/\d+ epochs \([\d,]+ steps of \d+\)/.test(originText) && originText.includes(how),
        `${mode}/${model}: the page shows the shipped weights' training ("${originText}")`);
      const first = await canvasPixels(page);
      check(first.width === 8 * side + 9 * GAP, `${mode}/${model}: canvas is ${first.width} px wide`);
      const digits = tiles(first, side);
      const p = plausible(digits, side);
      check(p.ok, `${mode}/${model}: digits look like digits ${p.stats}`);
      const c = compare(digits, native(model));
      check(c.mean < 1.0 && c.far < 0.002,
        `${mode}/${model}: seed ${SEED} matches trainer sample (mean |diff| ${c.mean.toFixed(3)} levels, ${(100 * c.far).toFixed(3)}% over 8)`);

      const times = [];
      await page.evaluate(() => { window.__longtasks = []; });
      for (let i = 0; i < CLICKS[mode]; i++) {
        await page.click('#digits');
        d = await waitGeneration(page, ++generation);
        times.push(Number(d.ms));
        check(d.drawnby === DRAWN_BY[mode], `${mode}/${model}: click ${i + 1} drawn by the ${d.drawnby}`);
      }
      {
        // Drawn in a worker, a conv grid (~0.6 s of CPU) leaves the page free.
        const longest = Math.max(0, ...await page.evaluate(() => window.__longtasks));
        run.clicks_longest_task_ms = { ...run.clicks_longest_task_ms, [model]: longest };
        check(longest <= LONG_TASK_MS,
          `${mode}/${model}: longest main-thread task while ${CLICKS[mode]} grids were drawn: ${longest} ms (at most ${LONG_TASK_MS})`);
      }
      const after = await canvasPixels(page);
      check(after.gray.some((v, i) => v !== first.gray[i]) && d.seed !== String(SEED),
        `${mode}/${model}: a click drew new digits (seed ${d.seed})`);
      const p2 = plausible(tiles(after, side), side);
      check(p2.ok, `${mode}/${model}: new digits look like digits ${p2.stats}`);
      const seedBefore = d.seed;
      await page.keyboard.press('Space');
      d = await waitGeneration(page, ++generation);
      check(Number(d.generation) === generation && d.seed !== seedBefore,
        `${mode}/${model}: Space drew generation ${d.generation} (seed ${seedBefore} -> ${d.seed})`);
      times.sort((a, b) => a - b);
      run.clicks[model] = { median_ms: times[Math.floor(times.length / 2)], ms: times };
      await page.screenshot({ path: path.join(out, `demo-${mode}-${model}.png`), fullPage: true });
    }
    report.runs[mode] = run;
  });
}

console.log('== errors on the page');
const ganBytes = fs.readFileSync(path.join(dist, 'weights', 'gan.safetensors'));
const cases = [
  ['missing file', (r) => r.fulfill({ status: 404, body: 'not found' }), 'weights/pggan.safetensors: HTTP 404'],
  ['corrupt file', (r) => r.fulfill({ status: 200, body: Buffer.from('this is not safetensors') }), 'weights/pggan.safetensors: not a safetensors file'],
  ['wrong architecture', (r) => r.fulfill({ status: 200, body: ganBytes }), 'holds a gan generator, expected a pggan generator'],
  // Refused by its declared length, before its body is read (web/fetch).
  ['oversized file', (r) => r.fulfill({ status: 200, body: Buffer.alloc((64 << 20) + 1) }),
    'weights/pggan.safetensors: 67108865 bytes, over the 67108864-byte limit'],
];
for (const [name, handler, expected] of cases) {
  await withPage('cpu', async (page) => {
    await page.route('**/weights/pggan.safetensors', handler);
    await page.goto(`${base}/?seed=${SEED}`);
    const d = await waitGeneration(page, 1);
    await waitLoaded(page);
    const errors = await page.textContent('#errors');
    check(errors.includes(expected), `${name}: the page says "${errors.trim()}"`);
    check(d.state === 'ready' && d.model === 'gan', `${name}: the GAN still draws (state=${d.state}, model=${d.model})`);
    check(await page.isDisabled('#model-pggan'), `${name}: the PGGAN switch is disabled`);
  });
}

await withPage('cpu', async (page) => {
  await page.route('**/weights/*.safetensors', (r) => r.fulfill({ status: 404, body: 'not found' }));
  await page.goto(`${base}/`);
  const d = await waitGeneration(page, 1);
  await waitLoaded(page);
  const [errors, status] = [await page.textContent('#errors'), await page.textContent('#status')];
  check(d.state === 'error' && status.includes('No model could be loaded'), `no weights at all: the page says "${status}"`);
  check(errors.includes('gan.safetensors: HTTP 404') && errors.includes('pggan.safetensors: HTTP 404'),
    `no weights at all: both files are named ("${errors.trim()}")`);
  const canvas = await canvasPixels(page);
  check(canvas.gray.some((v) => v > 128), 'no weights at all: the canvas says so instead of staying blank');
});

// The worker's module fails to load: its loader says so, and the page loads
// and draws by itself at once instead of waiting out index.html's 10 s bound.
await withPage('cpu', async (page) => {
  await page.route('**/drawer_bg.wasm', (r) => r.fulfill({ status: 404, body: 'not found' }));
  await page.goto(`${base}/?seed=${SEED}`);
  const d = await waitGeneration(page, 1);
  await page.waitForFunction(() => document.body.dataset.drawer === 'failed', null, { timeout: TIMEOUT });
  check(d.state === 'ready' && d.drawnby === 'page' && d.firstby === 'page' && Number(d.firstms) < 8000,
    `worker module missing: the page drew the first digits itself after ${d.firstms} ms (state ${d.state}, drawn by ${d.drawnby})`);
});

// The controls work from the first digits on, before the page's own module
// has loaded (held back here until the worker has answered them): new
// digits, the other model, a typed seed; the page then keeps that grid.
await withPage('cpu', async (page) => {
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await page.route(/\/web-[^/]*_bg\.wasm$/, async (r) => { await held; await r.continue(); });
  await page.goto(`${base}/?seed=${SEED}`);
  const drawn = (n) => page.waitForFunction((n) => Number(document.body.dataset.early) >= n, n, { timeout: TIMEOUT });
  await drawn(1);
  const before = { seed: await page.inputValue('#seed'), pixels: await canvasPixels(page) };
  await page.click('#new');
  await drawn(2);
  const fresh = { seed: await page.inputValue('#seed'), pixels: await canvasPixels(page) };
  check(before.seed === String(SEED) && fresh.seed !== before.seed && fresh.pixels.gray.join() !== before.pixels.gray.join(),
    `before the page's module: "New digits" drew seed ${fresh.seed} after ${before.seed}`);
  await page.click('#model-pggan');
  await drawn(3);
  const pggan = { seed: await page.inputValue('#seed'), pixels: await canvasPixels(page) };
  check(pggan.seed === fresh.seed && pggan.pixels.width === GAP + 8 * (SIDES.pggan + GAP),
    `before the page's module: the PGGAN drew the same seed (${pggan.seed}), ${pggan.pixels.width} pixels wide`);
  await page.fill('#seed', '123');
  await page.dispatchEvent('#seed', 'change');
  await drawn(4);
  let d = await dataset(page);
  check(d.state === 'loading' && await page.inputValue('#seed') === '123',
    `before the page's module: a typed seed is drawn (state ${d.state}, ${d.early} grids)`);
  release();
  d = await waitGeneration(page, 1);
  check(d.state === 'ready' && d.model === 'pggan' && d.seed === '123',
    `the page, once loaded, keeps the grid on screen (${d.model}, seed ${d.seed})`);
});

// A browser whose WebGPU offers an adapter but refuses a device: the page
// must fall back to the CPU and say why.
await withPage('webgpu', async (page) => {
  await page.addInitScript(() => {
    GPUAdapter.prototype.requestDevice = () => Promise.reject(new Error('device refused by the test'));
  });
  await page.goto(`${base}/?seed=${SEED}`);
  await waitGeneration(page, 1);
  await waitLoaded(page);
  const d = await dataset(page);
  const status = await page.textContent('#status');
  check(d.state === 'ready' && d.backend === 'cpu', `unusable WebGPU: falls back to the CPU (state=${d.state}, backend=${d.backend})`);
  check(status.includes('WebGPU failed to start'), `unusable WebGPU: the page says "${status}"`);
});

// The WebGPU worker's module fails to load: the CPU worker keeps drawing,
// and the page says why.
await withPage('webgpu', async (page) => {
  await page.route('**/gpu-worker_bg.wasm', (r) => r.fulfill({ status: 404, body: 'not found' }));
  await page.goto(`${base}/?seed=${SEED}`);
  await waitLoaded(page);
  const generation = Number((await dataset(page)).generation);
  await page.click('#digits');
  const d = await waitGeneration(page, generation + 1);
  const status = await page.textContent('#status');
  check(d.backend === 'cpu' && d.gpudrawer === 'failed' && d.drawnby === 'worker',
    `no WebGPU worker: the CPU worker draws (backend ${d.backend}, WebGPU worker ${d.gpudrawer}, drawn by the ${d.drawnby})`);
  check(status.includes('WebGPU failed to start: its module did not load'), `no WebGPU worker: the page says "${status}"`);
});


// ------------------------------------------------------ training in the page
// SwiftShader runs the GPU kernels on this CPU, ~11 s a step: a small run
// there (the preview is drawn after step 1 and at the end).
const TRAIN = { webgpu: { steps: 3, batch: 4 }, cpu: { steps: 25, batch: 32 } };
const TRAIN_TIMEOUT = 600_000;
report.training = {};

async function openPanel(page) {
  await page.click('#train-panel summary');
  await page.waitForFunction(() => ['ready', 'failed'].includes(document.body.dataset.traindata), null, { timeout: TIMEOUT });
}

async function train(page, { steps, batch, from = 'scratch', lr = '0.0002' }) {
  await page.selectOption('#train-from', from);
  await page.fill('#train-steps', String(steps));
  await page.fill('#train-batch', String(batch));
  await page.fill('#train-lr', lr);
  const t0 = Date.now();
  await page.click('#train-go');
  // Over, and the loop done with its last losses and preview.
  await page.waitForFunction(() => ['finished', 'failed', 'stopped'].includes(document.body.dataset.trainstate)
    && document.body.dataset.trainbusy === 'no', null, { timeout: TRAIN_TIMEOUT });
  const d = await dataset(page);
  return { ...d, wall_ms: Date.now() - t0 };
}

const finite = (loss) => (loss || '').split(' ').length === 2 && loss.split(' ').every((v) => Number.isFinite(Number(v)));

for (const mode of ['webgpu', 'cpu']) {
  console.log(`== training in the page (${mode})`);
  await withPage(mode, async (page) => {
    await page.goto(`${base}/?seed=${SEED}`);
    await waitLoaded(page);
    let d = await dataset(page);
    check(d.backend === mode, `${mode}: backend ${d.backend}`);
    await openPanel(page);
    const dataText = await page.textContent('#train-data');
    d = await dataset(page);
    check(d.traindata === 'ready' && dataText.includes('10000'), `${mode}: the MNIST test images loaded ("${dataText}")`);
    const grid0 = await canvasPixels(page);
    const { steps, batch } = TRAIN[mode];
    const waitPreview = () => page.waitForFunction(() => Number(document.body.dataset.trainpreviews || 0) >= 1, null, { timeout: TRAIN_TIMEOUT });
    await page.evaluate(() => { window.__longtasks = []; });
    const run = train(page, { steps, batch });
    await waitPreview();
    const early = await canvasPixels(page, 'train-digits');
    d = await run;
    check(d.trainstate === 'finished' && d.trainstep === String(steps), `${mode}: ${steps} steps of ${batch} trained (state ${d.trainstate}, step ${d.trainstep})`);
    // The run trains in a worker, off the main thread: the WebGPU one, or the CPU one.
    check(d.trainwhere === DRAWN_BY[mode], `${mode}: trained in the ${d.trainwhere}`);
    const longest = Math.max(0, ...await page.evaluate(() => window.__longtasks));
    check(longest <= LONG_TASK_MS, `${mode}: longest main-thread task while training: ${longest} ms (at most ${LONG_TASK_MS})`);
    check(finite(d.trainloss), `${mode}: the last losses are finite (D G = ${d.trainloss})`);
    check(Number(d.trainrate) > 0, `${mode}: ${d.trainrate} steps/s`);
    const late = await canvasPixels(page, 'train-digits');
    check(late.width === 242 && late.gray.some((v, i) => v !== early.gray[i]),
      `${mode}: the preview grid changed between step 1 and step ${steps} (${d.trainpreviews} previews)`);
    const curves = await curvePixels(page);
    check(curves.d > 50 && curves.g > 50, `${mode}: the loss chart draws both curves (${curves.d} D and ${curves.g} G pixels)`);
    report.training[mode] = { steps, batch, steps_per_s: Number(d.trainrate), wall_ms: d.wall_ms, longest_task_ms: longest };

    // The trained generator in the main grid, and as a file for the trainer.
    const generation = Number(d.generation);
    await page.click('#train-use');
    d = await waitGeneration(page, generation + 1);
    check(d.origin === 'trained' && d.seed === String(SEED), `${mode}: the grid draws the trained generator (origin ${d.origin})`);
    const grid1 = await canvasPixels(page);
    check(grid1.gray.some((v, i) => v !== grid0.gray[i]), `${mode}: the grid changed`);
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: TIMEOUT }), page.click('#train-download')]);
    const file = path.join(out, `trained-${mode}.safetensors`);
    await download.saveAs(file);
    const c = compare(tiles(grid1, 28), sampleFile(file, 28));
    check(c.mean < 1.0 && c.far < 0.002,
      `${mode}: the download (${download.suggestedFilename()}) draws the page's digits in trainer sample (mean |diff| ${c.mean.toFixed(3)})`);
    await page.screenshot({ path: path.join(out, `train-${mode}.png`), fullPage: true });

    if (mode !== 'cpu') return;
    // Pause, resume, stop (on the CPU, where steps are quick).
    await page.fill('#train-steps', '2000');
    await page.fill('#train-batch', '8');
    await page.click('#train-go');
    const atStep = (n) => page.waitForFunction((n) => Number(document.body.dataset.trainstep || 0) >= n, n, { timeout: TIMEOUT });
    await atStep(15);
    await page.click('#train-pause');
    await page.waitForFunction(() => document.body.dataset.trainstate === 'paused', null, { timeout: TIMEOUT });
    const paused = Number((await dataset(page)).trainstep);
    await page.waitForTimeout(1500);
    d = await dataset(page);
    check(Number(d.trainstep) === paused && (await page.textContent('#train-pause')) === 'Resume',
      `pause: no steps while paused (step ${paused} -> ${d.trainstep})`);
    await page.click('#train-pause');
    await atStep(paused + 10);
    await page.click('#train-stop');
    await page.waitForFunction(() => document.body.dataset.trainstate === 'stopped' && document.body.dataset.trainbusy === 'no',
      null, { timeout: TIMEOUT });
    d = await dataset(page);
    check(Number(d.trainstep) > paused && Number(d.trainstep) < 2000, `resume and stop: stopped at step ${d.trainstep}`);
    check(!(await page.isDisabled('#train-go')) && !(await page.isDisabled('#train-download')), 'stop: a new run can start, the weights can be saved');

    // Fine-tuning the shipped pair: a few steps keep digits.
    d = await train(page, { steps: 10, batch: 32, from: 'shipped', lr: '0.00005' });
    check(d.trainstate === 'finished' && finite(d.trainloss), `fine-tune: 10 steps from the shipped weights (D G = ${d.trainloss})`);
    const tuned = plausible(tiles(await canvasPixels(page, 'train-digits'), 28), 28);
    check(tuned.ok, `fine-tune: the preview still shows digits ${tuned.stats}`);
    // The PGGAN grows from 4x4 when trained from scratch (the choice applies only then).
    await page.selectOption('#train-model', 'pggan');
    await page.selectOption('#train-from', 'shipped');
    check(await page.isDisabled('#train-schedule'), 'the PGGAN from the shipped weights is fully grown: no growing choice');
    await page.selectOption('#train-from', 'scratch');
    check(!(await page.isDisabled('#train-schedule')) && await page.inputValue('#train-schedule') === 'progressive',
      'the PGGAN from scratch grows by default');
    // 20 steps of 256: 4x4 for 5,000 images, then fading in 8x8.
    d = await train(page, { steps: 20, batch: 256 });
    const grownText = await page.textContent('#train-status');
    check(d.trainstate === 'finished' && finite(d.trainloss) && (d.trainstage || '').startsWith('fading in 8x8')
      && grownText.includes('at fading in 8x8'),
      `progressive PGGAN: 20 steps of 256 from 4x4 reach ${d.trainstage} ("${grownText}", ${d.wall_ms} ms)`);
    report.training.pggan_progressive = { steps: 20, batch: 256, stage: d.trainstage, wall_ms: d.wall_ms };
    // Its shipped discriminator makes fine-tuning possible: 2 steps of 8.
    d = await train(page, { steps: 2, batch: 8, from: 'shipped', lr: '0.00005' });
    check(d.trainstate === 'finished' && finite(d.trainloss) && !d.trainstage,
      `fine-tune the PGGAN: 2 steps from the shipped pair at full size (D G = ${d.trainloss})`);
    await page.selectOption('#train-model', 'gan');
    // Bad settings are refused with the reason.
    await page.fill('#train-batch', '0');
    await page.click('#train-go');
    const text = await page.textContent('#train-status');
    check(text.includes('the batch size must be a number from 1 to 256, got "0"'), `bad settings: "${text}"`);
  });
}

// The training worker's module fails to load: the run that was sent to it
// says so, and the next one trains on the page's own CPU.
console.log('== training without its worker');
await withPage('cpu', async (page) => {
  await page.route(/train.worker[^/]*_bg\.wasm$/, (r) => r.fulfill({ status: 404, body: 'not found' }));
  await page.goto(`${base}/?seed=${SEED}`);
  await waitLoaded(page);
  await openPanel(page);
  await page.fill('#train-steps', '3');
  await page.fill('#train-batch', '4');
  await page.click('#train-go');
  await page.waitForFunction(() => document.getElementById('train-status').textContent.includes('training worker stopped'),
    null, { timeout: TIMEOUT });
  const said = await page.textContent('#train-status');
  check(said.includes('start again to train on this page') && !(await page.isDisabled('#train-go')),
    `no training worker: the page says so ("${said}")`);
  const d = await train(page, { steps: 3, batch: 4 });
  check(d.trainstate === 'finished' && d.trainwhere === 'page' && finite(d.trainloss),
    `no training worker: the next run trained on the page (state ${d.trainstate}, in the ${d.trainwhere})`);
});

// ------------------------------------------------------------ latent walk
console.log('== latent walk');
await withPage('cpu', async (page) => {
  await page.goto(`${base}/?seed=${SEED}`);
  await waitGeneration(page, 1);
  const grid = tiles(await canvasPixels(page), 28);
  await page.check('#walk-mode');
  await page.waitForFunction(() => Number(document.body.dataset.walkframes || 0) >= 1, null, { timeout: TIMEOUT });
  const frame = async () => (await canvasPixels(page, 'walk')).gray;
  await page.evaluate(() => document.getElementById('walk-play').click()); // pause, then scrub
  const scrub = (i) => page.$eval('#walk-t', (el, i) => { el.value = String(i); el.dispatchEvent(new Event('input')); }, i);
  await scrub(0);
  let c = compare([await frame()], [grid[0]]);
  check(c.mean < 1.0, `walk: frame 0 is digit 1 of the grid (mean |diff| ${c.mean.toFixed(3)})`);
  // A click on digit 10 (row 2, column 2) in walk mode picks it as the next end.
  const box = await page.locator('#digits').boundingBox();
  const scale = box.width / 242;
  await page.mouse.click(box.x + (2 + 30 + 14) * scale, box.y + (2 + 30 + 14) * scale);
  await page.waitForFunction(() => Number(document.body.dataset.walkframes) >= 2, null, { timeout: TIMEOUT });
  let d = await dataset(page);
  check(d.walkfrom === '1' && d.walkto === '9' && d.seed === String(SEED), `walk: the click picked digit 10 (from ${d.walkfrom} to ${d.walkto}, seed ${d.seed} kept)`);
  await scrub(47);
  c = compare([await frame()], [grid[9]]);
  check(c.mean < 1.0 && d.walkframe !== undefined, `walk: the last frame is digit 10 (mean |diff| ${c.mean.toFixed(3)})`);
  await scrub(24);
  const mid = await frame();
  check(compare([mid], [grid[1]]).mean > 5 && compare([mid], [grid[9]]).mean > 5, 'walk: the middle frame is neither end');
  await page.evaluate(() => document.getElementById('walk-play').click()); // play
  const before = Number((await dataset(page)).walkframe);
  await page.waitForTimeout(500);
  check(Number((await dataset(page)).walkframe) !== before, 'walk: playing moves the frames');
  await page.uncheck('#walk-mode');
  const generation = Number((await dataset(page)).generation);
  await page.click('#digits');
  d = await waitGeneration(page, generation + 1);
  check(d.seed !== String(SEED), `walk off: a click resamples again (seed ${d.seed})`);
});

// ---------------------------------------------------- the user's own weights
/** Drops a file on the page as a user dragging it from their desktop would. */
async function dropFile(page, name, bytes) {
  const transfer = await page.evaluateHandle(({ name, b64 }) => {
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const t = new DataTransfer();
    t.items.add(new File([bytes], name));
    return t;
  }, { name, b64: Buffer.from(bytes).toString('base64') });
  await page.dispatchEvent('main', 'drop', { dataTransfer: transfer });
}

/** The weights message once the page marks `state` (loaded or refused). */
async function weightsMessage(page, state) {
  await page.waitForFunction((s) => document.body.dataset.weights === s, state, { timeout: TIMEOUT });
  await page.evaluate(() => { document.body.dataset.weights = ''; });
  return page.textContent('#weights-message');
}

console.log('== your own weights');
const mine = path.join(os.tmpdir(), 'mnist-gan-e2e-mine');
fs.rmSync(mine, { recursive: true, force: true });
execFileSync(trainer, ['train', '--model', 'gan', '--max-steps', '30', '--batch-size', '32', '--seed', '3',
  '--backend', 'cpu', '--eval-every', '0', '--run-dir', path.join(mine, 'run'),
  '--export', path.join(mine, 'mine.safetensors')], { stdio: 'pipe' });
await withPage('cpu', async (page) => {
  await page.goto(`${base}/?seed=${SEED}`);
  let d = await waitGeneration(page, 1);
  const drop = (name, bytes) => dropFile(page, name, bytes);
  const message = (state) => weightsMessage(page, state);
  let generation = Number(d.generation);
  await drop('mine.safetensors', fs.readFileSync(path.join(mine, 'mine.safetensors')));
  let text = await message('loaded');
  d = await waitGeneration(page, generation + 1);
  check(d.origin === 'file' && text.includes('mine.safetensors') && text.includes('30 steps'), `drop: "${text}"`);
  const c = compare(tiles(await canvasPixels(page), 28), sampleFile(path.join(mine, 'mine.safetensors'), 28));
  check(c.mean < 1.0 && c.far < 0.002, `drop: the grid matches trainer sample of the dropped file (mean |diff| ${c.mean.toFixed(3)})`);
  generation = Number(d.generation);
  await drop('notes.txt', Buffer.from('these are not weights'));
  text = await message('refused');
  check(text.includes('notes.txt: not a safetensors file'), `drop a text file: "${text}"`);
  await page.setInputFiles('#weights-file', path.join(mine, 'mine-discriminator.safetensors'));
  text = await message('refused');
  check(text.includes('mine-discriminator.safetensors: this file holds a gan discriminator, expected a gan generator'), `choose a discriminator: "${text}"`);
  await page.setInputFiles('#weights-file', path.join(dist, 'weights', 'pggan.safetensors'));
  text = await message('loaded');
  d = await waitGeneration(page, generation + 1);
  check(d.model === 'pggan' && d.origin === 'file', `choose a PGGAN file: the grid switches to it (model ${d.model}; "${text}")`);
});

// No shipped weights at all: your own file and training from scratch still work.
await withPage('cpu', async (page) => {
  await page.route('**/weights/*.safetensors', (r) => r.fulfill({ status: 404, body: 'not found' }));
  await page.goto(`${base}/?seed=${SEED}`);
  await waitLoaded(page);
  const status = await page.textContent('#status');
  check(status.includes('drop a generator') && status.includes('Train here'), `no weights: the page says what helps ("${status}")`);
  await dropFile(page, 'mine.safetensors', fs.readFileSync(path.join(mine, 'mine.safetensors')));
  const text = await weightsMessage(page, 'loaded');
  // (Not waitGeneration: the page's state stays `error`, which ends that wait at once.)
  await page.waitForFunction(() => Number(document.body.dataset.generation || 0) >= 1, null, { timeout: TIMEOUT });
  let d = await dataset(page);
  check(d.origin === 'file' && Number(d.generation) === 1, `no weights: a dropped file draws ("${text}", drawn by the ${d.drawnby})`);
  await openPanel(page);
  d = await train(page, { steps: 3, batch: 8 });
  check(d.trainstate === 'finished' && d.trainstep === '3', `no weights: 3 steps from scratch trained (state ${d.trainstate})`);
});

server.close();
fs.writeFileSync(path.join(out, 'report.json'), JSON.stringify(report, null, 1));
console.log(JSON.stringify(report));
if (failures) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('all browser checks passed');
