#!/usr/bin/env node
/**
 * Builds dist/browser/index.mjs, the package for browsers (the `browser`
 * condition of package.json's exports): src/index.ts bundled by esbuild into
 * one ES module, with the same API as the Node build.
 *
 * Node-only code sits behind small seams: a module `x.ts` that needs Node
 * (fs, the native addon, the TensorFlow op library) has a twin
 * `x.browser.ts` with the same exports, and this build resolves every import
 * of `x` to the twin. Nothing else differs between the two builds. The
 * platform is `browser`, so a Node built-in that is still reachable fails the
 * build instead of failing in a page.
 *
 * The tfjs packages stay external (bare imports in the bundle, resolved by the
 * application's bundler): they are peer dependencies, and the kernels,
 * gradients and graph ops this package registers must land in the one tfjs-core
 * engine the application uses. A second copy bundled in here would have its own
 * registries and backends, and models loaded by the application's tfjs would
 * never see the fused kernels. test/browser bundles tfjs into its test page only.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const esbuild = require('esbuild');
// models/*.json parsed, in file-name order (src/transform/architecture_files.browser.ts reads them).
const {entries: architectureEntries} = require('./architectures-table.js');

const ROOT = path.join(__dirname, '..');
const SRC = path.join(ROOT, 'src');
const OUTFILE = path.join(ROOT, 'dist', 'browser', 'index.mjs');

/** Resolves a relative import inside src/ to its `.browser.ts` twin when there is one. */
const browserTwins = {
  name: 'browser-twins',
  setup(build) {
    build.onResolve({filter: /^\.\.?\//}, args => {
      if (!args.importer.startsWith(SRC + path.sep)) return undefined;
      const twin = path.resolve(args.resolveDir, args.path) + '.browser.ts';
      return fs.existsSync(twin) ? {path: twin} : undefined;
    });
  },
};

/**
 * Node globals a page lacks. esbuild resolves imports for the browser but
 * leaves free variables alone, so a `Buffer.from` would only fail when run.
 */
const NODE_GLOBALS = /\bBuffer\s*\.|\brequire\s*\(|\b__dirname\b|\b__filename\b/;

async function main() {
  const result = await esbuild.build({
    entryPoints: [path.join(SRC, 'index.ts')],
    outfile: OUTFILE,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    external: ['@tensorflow/*'],
    plugins: [browserTwins],
    define: {TFJS_BT_ARCHITECTURE_FILES: JSON.stringify(architectureEntries())},
    metafile: true,
    logLevel: 'warning',
  });
  const code = fs.readFileSync(OUTFILE, 'utf8');
  const nodeGlobal = NODE_GLOBALS.exec(code);
  if (nodeGlobal) {
    const line = code.slice(0, nodeGlobal.index).split('\n').length;
    throw new Error(`${path.relative(ROOT, OUTFILE)}:${line} uses the Node global '${nodeGlobal[0]}': ${code.split('\n')[line - 1].trim()}`);
  }
  const inputs = Object.keys(result.metafile.inputs);
  const twins = inputs.filter(f => f.endsWith('.browser.ts'));
  const size = fs.statSync(OUTFILE).size;
  console.log(`${path.relative(ROOT, OUTFILE)}: ${inputs.length} modules (${twins.length} browser twins), ${(size / 1024).toFixed(0)} KiB`);
}

main().catch(e => {
  console.error(e.message);
  process.exit(1);
});
