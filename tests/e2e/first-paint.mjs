// The page's start-up in headless Chromium, for comparing builds side by
// side: for each DIST_DIR in turn (alternating, ROUNDS times, a fresh browser
// each load), with WebGPU (SwiftShader here) and without, the time from
// navigation to the first digits (`data-firstms`), to everything loaded
// (`data-loaded`, WebGPU warmed up where there is one), the backend then, and
// the main thread's long tasks (a `longtask` PerformanceObserver) meanwhile:
// the longest and how many over 50 ms. Also each build's wasm, raw and gzipped.
//
// usage: node tests/e2e/first-paint.mjs DIST_DIR... (ROUNDS=3 by default)
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve } from './serve.mjs';

const dists = process.argv.slice(2).map((d) => path.resolve(d));
if (dists.length === 0) {
  console.error('usage: node first-paint.mjs DIST_DIR...');
  process.exit(2);
}
const rounds = Number(process.env.ROUNDS || 3);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 300_000;
const MODES = { webgpu: ['--enable-unsafe-webgpu'], cpu: [] };
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

const results = {};
for (const dist of dists) for (const mode of Object.keys(MODES)) results[`${dist} ${mode}`] = [];

for (let round = 0; round < rounds; round++) {
  for (const mode of Object.keys(MODES)) {
    for (const dist of dists) {
      const { server, base } = await serve(dist);
      const browser = await chromium.launch({
        executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu-sandbox', ...MODES[mode]],
      });
      const page = await browser.newPage();
      await page.addInitScript(() => {
        window.__longtasks = [];
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.__longtasks.push(e.duration);
        }).observe({ type: 'longtask', buffered: true });
      });
      await page.goto(`${base}/?seed=7`);
      await page.waitForFunction(() => Number(document.body.dataset.generation || 0) >= 1, null, { timeout: TIMEOUT });
      const first = await page.evaluate(() => ({ ms: Number(document.body.dataset.firstms), backend: document.body.dataset.backend }));
      await page.waitForFunction(() => document.body.dataset.loaded === 'all', null, { timeout: TIMEOUT });
      const loaded = await page.evaluate(() => ({
        ms: performance.now(), backend: document.body.dataset.backend, tasks: window.__longtasks,
      }));
      results[`${dist} ${mode}`].push({
        first: first.ms, firstBackend: first.backend, loaded: loaded.ms, backend: loaded.backend,
        longest: Math.max(0, ...loaded.tasks), over50: loaded.tasks.filter((t) => t > 50).length,
      });
      await browser.close();
      server.close();
    }
  }
}

for (const dist of dists) {
  const wasm = fs.readdirSync(dist).filter((f) => f.endsWith('.wasm')).map((f) => {
    const bytes = fs.readFileSync(path.join(dist, f));
    return `${f} ${(bytes.length / 1e6).toFixed(2)} MB (${(zlib.gzipSync(bytes, { level: 9 }).length / 1e6).toFixed(2)} MB gzip -9)`;
  });
  console.log(`${dist}: ${wasm.join(', ')}`);
  for (const mode of Object.keys(MODES)) {
    const r = results[`${dist} ${mode}`];
    const m = (k) => Math.round(median(r.map((x) => x[k])));
    console.log(`  ${mode}: first digits ${m('first')} ms (on ${r.map((x) => x.firstBackend).join('/')}), `
      + `all loaded ${m('loaded')} ms (on ${r.map((x) => x.backend).join('/')}), `
      + `longest main-thread task ${m('longest')} ms, ${m('over50')} over 50 ms (medians of ${r.length} loads)`);
  }
}
