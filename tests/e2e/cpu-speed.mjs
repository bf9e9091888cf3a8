// The CPU fallback's speed in headless Chromium, for comparing builds of the
// page side by side: for each DIST_DIR in turn (alternating, ROUNDS times),
// the time to the first digits and the median of 5 clicks per model
// (`data-ms`: latents to pixels), without WebGPU; with TRAIN_STEPS=N also the
// steps/s of N steps of the conv model trained in the page at 32x32 (batch
// TRAIN_BATCH, 16 by default), as the page reports it (`data-trainrate`).
// Also the longest main-thread task (a `longtask` PerformanceObserver) while
// the conv model's grids are drawn, and while it trains, the longest over all
// loads. With WEBGPU=1 the same with WebGPU (SwiftShader on a machine without
// a GPU), once the page has switched to it; CLICKS sets the clicks per model
// (5 by default).
//
// usage: node tests/e2e/cpu-speed.mjs DIST_DIR... (ROUNDS=2 by default)
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { serve } from './serve.mjs';

const dists = process.argv.slice(2).map((d) => path.resolve(d));
if (dists.length === 0) {
  console.error('usage: node cpu-speed.mjs DIST_DIR...');
  process.exit(2);
}
const rounds = Number(process.env.ROUNDS || 2);
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const trainSteps = Number(process.env.TRAIN_STEPS || 0);
const trainBatch = Number(process.env.TRAIN_BATCH || 16);
const clicks = Number(process.env.CLICKS || 5);
const backend = process.env.WEBGPU === '1' ? 'webgpu' : 'cpu';
const TIMEOUT = 600_000;
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const results = Object.fromEntries(dists.map((d) => [d, { first: [], gan: [], pggan: [], train: [], longest: 0, trainLongest: 0 }]));
const browser = await chromium.launch({
  executablePath: CHROMIUM, headless: true,
  args: ['--no-sandbox', ...(backend === 'webgpu' ? ['--enable-unsafe-webgpu', '--disable-gpu-sandbox'] : [])],
});
for (let round = 0; round < rounds; round++) {
  for (const dist of dists) {
    const { server, base } = await serve(dist);
    const page = await browser.newPage();
    await page.addInitScript(() => {
      window.__longtasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longtasks.push(e.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    const generation = async (n) => {
      await page.waitForFunction((n) => Number(document.body.dataset.generation || 0) >= n, n, { timeout: TIMEOUT });
      return page.evaluate(() => ({ ...document.body.dataset }));
    };
    await page.goto(`${base}/?seed=7`);
    let d = await generation(1);
    results[dist].first.push(Number(d.firstms));
    await page.waitForFunction(() => document.body.dataset.loaded === 'all', null, { timeout: TIMEOUT });
    // Builds with the CPU worker: once it holds both generators.
    await page.waitForFunction(() => [undefined, 'gan pggan', 'failed'].includes(document.body.dataset.drawer), null,
      { timeout: TIMEOUT });
    d = await page.evaluate(() => ({ ...document.body.dataset }));
    if (d.backend !== backend) throw new Error(`${dist}: expected the ${backend} backend, got ${d.backend}`);
    let n = Number(d.generation);
    for (const model of ['gan', 'pggan']) {
      if (model === 'pggan') {
        await page.click('#model-pggan');
        d = await generation(++n);
        await page.evaluate(() => { window.__longtasks = []; });
      }
      for (let i = 0; i < clicks; i++) {
        await page.click('#digits');
        d = await generation(++n);
        results[dist][model].push(Number(d.ms));
      }
    }
    const longest = Math.max(0, ...await page.evaluate(() => window.__longtasks));
    results[dist].longest = Math.max(results[dist].longest, longest);
    if (trainSteps > 0) {
      await page.click('#train-panel summary');
      await page.waitForFunction(() => document.body.dataset.traindata === 'ready', null, { timeout: TIMEOUT });
      await page.selectOption('#train-model', 'pggan');
      await page.selectOption('#train-schedule', 'fixed');
      await page.fill('#train-steps', String(trainSteps));
      await page.fill('#train-batch', String(trainBatch));
      await page.evaluate(() => { window.__longtasks = []; });
      await page.click('#train-go');
      await page.waitForFunction(() => document.body.dataset.trainstate === 'finished'
        && document.body.dataset.trainbusy === 'no', null, { timeout: 1_800_000 });
      results[dist].train.push(Number((await page.evaluate(() => document.body.dataset.trainrate))));
      const trainLongest = Math.max(0, ...await page.evaluate(() => window.__longtasks));
      results[dist].trainLongest = Math.max(results[dist].trainLongest, trainLongest);
    }
    await page.close();
    server.close();
  }
}
await browser.close();
for (const [dist, r] of Object.entries(results)) {
  const wasm = fs.readdirSync(dist).filter((f) => f.endsWith('.wasm'))
    .map((f) => `${f} ${fs.statSync(path.join(dist, f)).size} bytes`).join(', ');
  console.log(`${dist}: first digits ${median(r.first)} ms, GAN ${median(r.gan)} ms, PGGAN ${median(r.pggan)} ms a click `
    + `(on ${backend}, medians of ${rounds} loads / ${clicks * rounds} clicks); longest main-thread task during the PGGAN clicks `
    + `${r.longest} ms; ${wasm}`
    + (trainSteps > 0 ? `; PGGAN training ${median(r.train)} steps/s (${trainSteps} steps of ${trainBatch}, 32x32), `
      + `longest main-thread task while training ${r.trainLongest} ms` : ''));
}
