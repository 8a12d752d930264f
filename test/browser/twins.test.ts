/**
 * The browser build (tools/build-browser.js) replaces each module that has a
 * `.browser.ts` twin by the twin. A twin exports what its Node module exports,
 * under the same names and with the same types, so that code written against
 * the Node build runs unchanged in a page: names are checked here at run time,
 * types by `npm run lint:types` (below). model_files.browser.ts is the one
 * partial twin: only the manifest checks exist without a file system.
 */
import * as fs from 'fs';
import * as path from 'path';

const SRC = path.join(__dirname, '..', '..', 'src');
const PARTIAL = new Set(['io/model_files.browser.ts']);

function twins(dir: string): string[] {
  return fs.readdirSync(path.join(SRC, dir), {withFileTypes: true}).flatMap(entry => {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    return entry.isDirectory() ? twins(rel) : rel.endsWith('.browser.ts') ? [rel] : [];
  });
}

/** Compiles only when every export of the twin B is an export of N with the same type. */
type Twin<N, B extends {[K in keyof B]: K extends keyof N ? N[K] : never}> =
    {[K in keyof B]: K extends keyof N ? N[K] : never} extends B ? true : never;

const LOAD_ADDON: Twin<typeof import('../../src/backends/cpu/native/load_addon'),
                      typeof import('../../src/backends/cpu/native/load_addon.browser')> = true;
const OP_LIBRARY: Twin<typeof import('../../src/backends/tensorflow/op_library'),
                       typeof import('../../src/backends/tensorflow/op_library.browser')> = true;
const LOAD_TFJS_LAYERS: Twin<typeof import('../../src/gradients/load_tfjs_layers'),
                             typeof import('../../src/gradients/load_tfjs_layers.browser')> = true;
const ARCHITECTURE_FILES: Twin<typeof import('../../src/transform/architecture_files'),
                               typeof import('../../src/transform/architecture_files.browser')> = true;
const MODEL_FILES: Twin<typeof import('../../src/io/model_files'), typeof import('../../src/io/model_files.browser')> = true;
const DIRECTORY_LOADER: Twin<typeof import('../../src/io/directory_loader'),
                             typeof import('../../src/io/directory_loader.browser')> = true;
/** The twins whose types are checked above (one per twin, so that a new twin needs a line here). */
const TYPE_CHECKED = [LOAD_ADDON, OP_LIBRARY, LOAD_TFJS_LAYERS, ARCHITECTURE_FILES, MODEL_FILES, DIRECTORY_LOADER].length;

describe('browser twins', () => {
  const all = twins('');

  it('each have their types checked above', () => {
    expect(all).toHaveLength(TYPE_CHECKED);
  });

  it.each(all)('%s exports the names of its Node module', twin => {
    const nodeFile = path.join(SRC, twin.replace(/\.browser\.ts$/, '.ts'));
    expect(fs.existsSync(nodeFile)).toBe(true);
    const browserNames = Object.keys(require(path.join(SRC, twin))).sort();
    const nodeNames = Object.keys(require(nodeFile)).sort();
    if (PARTIAL.has(twin)) {
      expect(browserNames.filter(n => !nodeNames.includes(n))).toEqual([]);
    } else {
      expect(browserNames).toEqual(nodeNames);
    }
  });
});
