// End-to-end test of the web demo in real headless Chromium, once with
// WebGPU (SwiftShader on a machine without a GPU) and once without it (the
// CPU fallback). Serves the built page, waits for the digits, clicks, switches
// model, compares the canvas with `trainer sample` for a fixed seed, checks
// the error messages, and saves a screenshot of each run.
//
// usage: node tests/e2e/demo.mjs DIST_DIR TRAINER_BIN OUT_DIR
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

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

let failures = 0;
function check(ok, message) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures++;
}

// ---------------------------------------------------------------- server
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
const root = path.resolve(dist);
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const file = path.join(root, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname));
  if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

// ------------------------------------------------------------ pixel tools
/** The canvas as gray levels: {width, height, gray}. */
async function canvasPixels(page) {
  return page.evaluate(() => {
    const c = document.getElementById('digits');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const gray = new Array(c.width * c.height);
    for (let i = 0; i < gray.length; i++) gray[i] = d[4 * i];
    return { width: c.width, height: c.height, gray };
  });
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

/** Digits look like MNIST: mostly dark, some ink, smooth strokes — not blank, not noise. */
function plausible(digits, side) {
  let dark = 0, ink = 0, jumps = 0, n = 0;
  for (const t of digits) {
    for (let i = 0; i < t.length; i++) {
      if (t[i] < 64) dark++;
      if (t[i] > 160) ink++;
      if (i % side) jumps += Math.abs(t[i] - t[i - 1]);
      n++;
    }
  }
  const stats = { dark: dark / n, ink: ink / n, jump: jumps / n };
  const ok = stats.dark > 0.5 && stats.dark < 0.97 && stats.ink > 0.03 && stats.jump < 40;
  return { ok, stats: JSON.stringify(Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, +v.toFixed(3)]))) };
}

/** `trainer sample` for the same file and seed, as 64 digits. */
function native(model) {
  const raw = path.join(os.tmpdir(), `mnist-gan-e2e-${model}.raw`);
  const png = path.join(os.tmpdir(), `mnist-gan-e2e-${model}.png`);
  execFileSync(trainer, ['sample', '--weights', path.join(dist, 'weights', `${model}.safetensors`),
    '--seed', String(SEED), '--count', '64', '--out', png, '--raw', raw], { stdio: 'pipe' });
  const bytes = fs.readFileSync(raw);
  const side = SIDES[model];
  return Array.from({ length: 64 }, (_, i) => Array.from(bytes.subarray(i * side * side, (i + 1) * side * side)));
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
    check(d.backend === mode, `${mode}: backend in use is ${d.backend}`);
    await waitLoaded(page);
    run.all_loaded_ms = Date.now() - t0;
    const errors = await page.textContent('#errors');
    check(errors.trim() === '', `${mode}: no errors shown (${errors.trim() || 'none'})`);

    let generation = Number(d.generation);
    for (const model of ['gan', 'pggan']) {
      if (model === 'pggan') {
        await page.click('#model-pggan');
        d = await waitGeneration(page, ++generation);
        check(d.model === 'pggan', `${mode}: switched to ${d.model}`);
        await page.fill('#seed', String(SEED));
        await page.press('#seed', 'Enter'); // fires `change`
        d = await waitGeneration(page, ++generation);
        generation = Number(d.generation);
      }
      const side = SIDES[model];
      const first = await canvasPixels(page);
      check(first.width === 8 * side + 9 * GAP, `${mode}/${model}: canvas is ${first.width} px wide`);
      const digits = tiles(first, side);
      const p = plausible(digits, side);
      check(p.ok, `${mode}/${model}: digits look like digits ${p.stats}`);
      const c = compare(digits, native(model));
      check(c.mean < 1.0 && c.far < 0.002,
        `${mode}/${model}: seed ${SEED} matches trainer sample (mean |diff| ${c.mean.toFixed(3)} levels, ${(100 * c.far).toFixed(3)}% over 8)`);

      const times = [];
      for (let i = 0; i < 5; i++) {
        await page.click('#digits');
        d = await waitGeneration(page, ++generation);
        times.push(Number(d.ms));
      }
      const after = await canvasPixels(page);
      check(after.gray.some((v, i) => v !== first.gray[i]) && d.seed !== String(SEED),
        `${mode}/${model}: a click drew new digits (seed ${d.seed})`);
      const p2 = plausible(tiles(after, side), side);
      check(p2.ok, `${mode}/${model}: new digits look like digits ${p2.stats}`);
      await page.keyboard.press('Space');
      d = await waitGeneration(page, ++generation);
      check(true, `${mode}/${model}: Space drew generation ${d.generation}`);
      times.sort((a, b) => a - b);
      run.clicks[model] = { median_ms: times[2], ms: times };
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

// A browser whose WebGPU offers an adapter but refuses a device: the page
// must fall back to the CPU and say why.
await withPage('webgpu', async (page) => {
  await page.addInitScript(() => {
    GPUAdapter.prototype.requestDevice = () => Promise.reject(new Error('device refused by the test'));
  });
  await page.goto(`${base}/?seed=${SEED}`);
  const d = await waitGeneration(page, 1);
  const status = await page.textContent('#status');
  check(d.state === 'ready' && d.backend === 'cpu', `unusable WebGPU: falls back to the CPU (state=${d.state}, backend=${d.backend})`);
  check(status.includes('WebGPU failed to start'), `unusable WebGPU: the page says "${status}"`);
});

server.close();
fs.writeFileSync(path.join(out, 'report.json'), JSON.stringify(report, null, 1));
console.log(JSON.stringify(report));
if (failures) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('all browser checks passed');
