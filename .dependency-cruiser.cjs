/**
 * The import rules of src/ (checked by test/structure.test.ts): no cycles, and
 * a module imports only from its own layer or the layers below it. The layers,
 * lowest first (README "Layout" explains each):
 *
 *   0 foundation  errors, config, package_root, op_table/, io/
 *   1 portable    typed-array algorithms (no tfjs)
 *   2 backends    the per-backend kernels and their registry
 *   3 dispatch    kernel-or-composite, the implementation report
 *   4 composite   each op as plain tfjs ops
 *   5 gradients   each op's gradient
 *   6 ops         the public op functions and their argument checks
 *   7 transform, layers, generation   the rewriting pass, the Keras layer, the text generator
 *   8 entry       register_all.ts, index.ts
 *   9 embeddings  SentenceEmbedder (the `./embeddings` entry)
 *  10 cli         the command line
 *
 * Library code (layers 0-9) never imports the CLI, the demo, benchmarks,
 * tests or tools.
 */
const LAYERS = [
  {name: 'foundation', path: '^src/(errors|config|package_root)\\.ts$|^src/(op_table|io)/'},
  {name: 'portable', path: '^src/portable/'},
  {name: 'backends', path: '^src/backends/'},
  {name: 'dispatch', path: '^src/dispatch/'},
  {name: 'composite', path: '^src/composite/'},
  {name: 'gradients', path: '^src/gradients/'},
  {name: 'ops', path: '^src/ops/'},
  {name: 'transform, layers and generation', path: '^src/(transform|layers|generation)/'},
  {name: 'entry', path: '^src/(register_all|index)\\.ts$'},
  {name: 'embeddings', path: '^src/embeddings/'},
  {name: 'cli', path: '^src/cli/'},
];

const higherThan = i => LAYERS.slice(i + 1).map(l => `(${l.path})`).join('|');

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'An import cycle: modules that need each other belong in one layer, or a registry breaks the loop.',
      from: {path: '^src/'},
      to: {circular: true},
    },
    {
      name: 'library-imports-no-tools',
      severity: 'error',
      comment: 'Library code never imports the demo, benchmarks, tests or tools.',
      from: {path: '^src/'},
      to: {path: '^(demo|benchmarks|test|tools)/'},
    },
    ...LAYERS.slice(0, -1).map((layer, i) => ({
      name: `layer-${layer.name}`,
      severity: 'error',
      comment: `${layer.name} imports only from its own layer or below`,
      from: {path: layer.path},
      to: {path: higherThan(i)},
    })),
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    exclude: {path: '^(dist|build|node_modules)/'},
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.build.json'},
    moduleSystems: ['cjs', 'es6'],
  },
};

// Not part of dependency-cruiser's configuration: the layers, for test/structure.test.ts.
Object.defineProperty(module.exports, 'LAYERS', {value: LAYERS, enumerable: false});
