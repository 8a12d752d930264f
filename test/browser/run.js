#!/usr/bin/env node
/**
 * `npm run test:browser`: the package's browser build in headless Chromium.
 * Bundles test/browser/page.ts (tfjs-core, tfjs-backend-cpu, tfjs-converter,
 * tfjs-layers and this package through its `browser` export, i.e.
 * dist/browser/index.mjs, which the npm script builds first), serves it with
 * the fixtures over HTTP, drives the system Chromium with puppeteer-core (no
 * browser download: CHROMIUM_PATH or `chromium` on PATH) and fails on any
 * failed case, page error, console error, failed request, or a page that does
 * not finish in time.
 */
'use strict';
const {execFileSync} = require('child_process');
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');
const puppeteer = require('puppeteer-core');
const {startServer} = require('./static_server');

const ROOT = path.join(__dirname, '..', '..');
const OUT = path.join(ROOT, 'build', 'browser-test');
const TIMEOUT_MS = 100_000;

function chromiumPath() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('which', [name], {encoding: 'utf8'}).trim();
    } catch {
      // not on PATH: try the next name
    }
  }
  throw new Error('no Chromium found: install it (apt-get install -y chromium) or set CHROMIUM_PATH');
}

async function bundlePage() {
  const browserBuild = path.join(ROOT, 'dist', 'browser', 'index.mjs');
  if (!fs.existsSync(browserBuild)) throw new Error(`${path.relative(ROOT, browserBuild)} is missing: run npm run build:browser`);
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'page.ts')],
    outfile: path.join(OUT, 'page.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    // Not tsconfig.json: its `paths` map 'tfjs-better-transformer' to src/; the page must get the browser build.
    tsconfigRaw: {},
    logLevel: 'warning',
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Opens the page in `browser`, runs its suite, and returns the results; page problems go to `problems`. */
async function runPage(browser, url, problems) {
  const page = await browser.newPage();
  page.on('pageerror', e => problems.push(`page error: ${e.message}`));
  page.on('console', m => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    else if (m.type() === 'warn') console.log(`  [page warning] ${m.text()}`);
  });
  page.on('requestfailed', r => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', r => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.url()}`);
  });
  await page.goto(`${url}/index.html`, {waitUntil: 'load'});
  // The script defines runBrowserSuite once its imports have run; a problem before that ends the wait.
  const started = Date.now();
  while (problems.length === 0 && !await page.evaluate(() => typeof globalThis.runBrowserSuite === 'function')) {
    if (Date.now() - started > 30_000) problems.push('the page script did not start within 30 s');
    await new Promise(resolve => setTimeout(resolve, 50));
  }
  if (problems.length > 0) return [];
  return await page.evaluate(() => globalThis.runBrowserSuite());
}

async function main() {
  const start = Date.now();
  await bundlePage();
  const server = await startServer({
    '/index.html': path.join(__dirname, 'index.html'),
    '/page.js': path.join(OUT, 'page.js'),
    '/fixtures/': path.join(ROOT, 'test', 'fixtures'),
  });
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const userAgent = await browser.version();
  const problems = [];
  let results = [];
  try {
    results = await withTimeout(runPage(browser, server.url, problems), TIMEOUT_MS, 'the browser test page');
  } catch (e) {
    problems.push(e.message);
  } finally {
    await withTimeout(browser.close(), 10_000, 'closing Chromium').catch(() => browser.process()?.kill('SIGKILL'));
    await server.close();
  }
  let suite = null;
  for (const r of results) {
    if (r.suite !== suite) console.log(`${(suite = r.suite)}`);
    console.log(`  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms} ms)${r.ok ? '' : `\n       ${r.detail}`}`);
  }
  const failed = results.filter(r => !r.ok);
  for (const p of problems) console.log(`FAIL ${p}`);
  const seconds = ((Date.now() - start) / 1000).toFixed(1);
  console.log(`${userAgent}: ${results.length - failed.length}/${results.length} cases passed, ` +
              `${problems.length} page problems, ${seconds} s`);
  if (results.length === 0 || failed.length > 0 || problems.length > 0) process.exitCode = 1;
}

main().catch(e => {
  console.error(`browser test failed: ${e.stack ?? e}`);
  process.exitCode = 1;
});
