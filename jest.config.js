/**
 * Jest runs the suite on tfjs-backend-cpu (`cpu`, native core when built),
 * the backend-agnostic suites again on `cpu` with the portable TypeScript
 * kernels (`cpu-portable`) and, where tfjs-node is installed
 * (tools/setup-tfjs-node.sh; always in CI), on tfjs-node's `tensorflow` backend
 * (tfjs-node-gpu's with TFJS_BT_TEST_NODE_PACKAGE=@tensorflow/tfjs-node-gpu). TypeScript goes through
 * ts-jest in transpile-only mode; types are checked by `npm run lint:types`.
 */
// TensorFlow's start-up INFO lines (oneDNN, cpu_feature_guard) from tfjs-node's libtensorflow, read once
// when it loads: the test workers inherit this before any of them loads it. A level set by the user stays.
if (process.env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = '2';

const common = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: {'^.+\\.ts$': ['ts-jest', {diagnostics: false}]},
};

const BACKEND_AGNOSTIC_SUITES = [
  'sdpa_parity', 'sdpa_semantics', 'sdpa_grad', 'encoder_parity', 'encoder_grad', 'encoder_stack', 'leaks', 'validation',
  'layers_mha', 'graph_only_ops', 'agreement', 'decoder_ops', 'generation', 'generation_layers', 'generation_seq2seq',
  'gpu_precision',
];

/** Rewriting-pass suites that also run on the `tensorflow` backend. */
const TRANSFORM_SUITES = ['transform_fixtures', 'fixtures_reference', 'embeddings_op'];

/** Real-model suites that also run on the `tensorflow` backend. */
const MODEL_SUITES = ['minilm'];

// The package behind the `tensorflow` project: tfjs-node, or tfjs-node-gpu with
// TFJS_BT_TEST_NODE_PACKAGE=@tensorflow/tfjs-node-gpu (test/helpers/tfjs_node_package.ts).
const TFJS_NODE_PACKAGE = process.env.TFJS_BT_TEST_NODE_PACKAGE || '@tensorflow/tfjs-node';
if (!['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'].includes(TFJS_NODE_PACKAGE)) {
  throw new Error(`TFJS_BT_TEST_NODE_PACKAGE must be @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu, not ${TFJS_NODE_PACKAGE}`);
}
// On a GPU, TensorFlow takes nearly all of its memory for the first process (tfjs-node's binding sets
// no options): let every test worker's TensorFlow grow its share instead. No effect without a GPU.
if (TFJS_NODE_PACKAGE === '@tensorflow/tfjs-node-gpu' && process.env.TF_FORCE_GPU_ALLOW_GROWTH === undefined) {
  process.env.TF_FORCE_GPU_ALLOW_GROWTH = 'true';
}

function tfjsNodeInstalled() {
  try {
    require.resolve(TFJS_NODE_PACKAGE);
    return true;
  } catch {
    return false;
  }
}

const projects = [
  {
    ...common,
    displayName: 'cpu-portable',
    testMatch: BACKEND_AGNOSTIC_SUITES.map(name => `**/test/${name}.test.ts`),
    setupFiles: ['<rootDir>/test/setup/portable_env.ts'],
    setupFilesAfterEnv: ['<rootDir>/test/setup/cpu_backend.ts'],
  },
  {
    ...common,
    displayName: 'cpu',
    testMatch: ['**/*.test.ts'],
    testPathIgnorePatterns: ['/node_modules/', 'tensorflow_op_library'],
    setupFilesAfterEnv: ['<rootDir>/test/setup/cpu_backend.ts'],
  },
];
if (tfjsNodeInstalled() || process.env.CI) {
  projects.push({
    ...common,
    displayName: 'tensorflow',
    testMatch: [...BACKEND_AGNOSTIC_SUITES, ...TRANSFORM_SUITES, ...MODEL_SUITES, 'tensorflow_op_library', 'op_table'].map(name => `**/test/${name}.test.ts`),
    setupFilesAfterEnv: ['<rootDir>/test/setup/tensorflow_backend.ts'],
  });
} else {
  // Information, not a problem: tfjs-node is an optional peer, and CI always installs it.
  console.log(`Backends under test: cpu, cpu-portable. ${TFJS_NODE_PACKAGE} (optional) would add the \`tensorflow\` backend: ` +
              `bash tools/setup-${TFJS_NODE_PACKAGE.replace('@tensorflow/', '')}.sh`);
}

// testTimeout is a global option (a project's copy would be ignored, with a warning).
module.exports = {projects, testTimeout: 120000};
