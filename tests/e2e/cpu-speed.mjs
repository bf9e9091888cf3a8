// The CPU fallback's speed in headless Chromium, for comparing builds of the
// page side by side: for each DIST_DIR in turn (alternating, ROUNDS times),
// the time to the first digits and the median of 5 clicks per model
// (`data-ms`: latents to pixels), without WebGPU.
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
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const results = Object.fromEntries(dists.map((d) => [d, { first: [], gan: [], pggan: [] }]));
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
for (let round = 0; round < rounds; round++) {
  for (const dist of dists) {
    const { server, base } = await serve(dist);
    const page = await browser.newPage();
    const generation = async (n) => {
      await page.waitForFunction((n) => Number(document.body.dataset.generation || 0) >= n, n, { timeout: 120_000 });
      return page.evaluate(() => ({ ...document.body.dataset }));
    };
    await page.goto(`${base}/?seed=7`);
    let d = await generation(1);
    if (d.backend !== 'cpu') throw new Error(`${dist}: expected the CPU backend, got ${d.backend}`);
    results[dist].first.push(Number(d.firstms));
    await page.waitForFunction(() => document.body.dataset.loaded === 'all', null, { timeout: 120_000 });
    let n = Number(d.generation);
    for (const model of ['gan', 'pggan']) {
      if (model === 'pggan') {
        await page.click('#model-pggan');
        d = await generation(++n);
      }
      for (let i = 0; i < 5; i++) {
        await page.click('#digits');
        d = await generation(++n);
        results[dist][model].push(Number(d.ms));
      }
    }
    await page.close();
    server.close();
  }
}
await browser.close();
for (const [dist, r] of Object.entries(results)) {
  const wasm = fs.readdirSync(dist).find((f) => f.endsWith('.wasm'));
  console.log(`${dist}: first digits ${median(r.first)} ms, GAN ${median(r.gan)} ms, PGGAN ${median(r.pggan)} ms a click `
    + `(medians of ${rounds} loads / ${5 * rounds} clicks); ${wasm} ${fs.statSync(path.join(dist, wasm)).size} bytes`);
}
