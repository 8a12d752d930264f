/**
 * The CLI's output is its own: no tfjs "install our node backend" banner and
 * no TensorFlow start-up log lines, for a user who set nothing.
 */
import * as fs from 'fs';
import * as path from 'path';
import {cliTmpdir, fixtureDir, runCli} from './helpers/run_cli';

describe('quiet output', () => {
  const NOISE = /looks like you are running TensorFlow\.js in Node\.js|install our node backend|cpu_feature_guard|oneDNN|rebuild TensorFlow/;

  /**
   * The environment of a user who set nothing. Where tfjs-node is not installed a stand-in takes its place (on
   * NODE_PATH, which comes after node_modules): it writes what libtensorflow writes when it loads, unless
   * TF_CPP_MIN_LOG_LEVEL, read at that moment, hides INFO lines. Where tfjs-node is installed, it is the real one.
   */
  function userEnv(): NodeJS.ProcessEnv {
    const env = {...process.env};
    delete env.TF_CPP_MIN_LOG_LEVEL;
    const modules = path.join(cliTmpdir(), 'node_modules');
    const standIn = path.join(modules, '@tensorflow', 'tfjs-node');
    fs.mkdirSync(standIn, {recursive: true});
    fs.writeFileSync(path.join(standIn, 'package.json'), JSON.stringify({name: '@tensorflow/tfjs-node', main: 'index.js'}));
    fs.writeFileSync(path.join(standIn, 'index.js'),
        "if (Number(process.env.TF_CPP_MIN_LOG_LEVEL || 0) < 1) process.stderr.write('2026-01-01 00:00:00.000000: I " +
        "tensorflow/core/platform/cpu_feature_guard.cc:182] This TensorFlow binary is optimized to use available CPU " +
        "instructions in performance-critical operations.\\n');\n");
    env.NODE_PATH = env.NODE_PATH ? `${env.NODE_PATH}${path.delimiter}${modules}` : modules;
    return env;
  }

  test.each([
    ['inspect (weights read on the default backend)', ['inspect', fixtureDir('bert')]],
    ['inspect without weights (small evaluations on cpu)', ['inspect', fixtureDir('t5v11_seq2seq'), '--no-weights']],
    ['convert', ['convert', fixtureDir('bert'), 'OUT']],
    ['bench on cpu', ['bench', fixtureDir('bert'), '--batch', '1', '--seq', '8', '--runs', '1', '--backend', 'cpu']],
  ])('%s: no banner and no TensorFlow log lines', (_, args) => {
    const argv = args.map(a => (a === 'OUT' ? path.join(cliTmpdir(), 'out') : a));
    const r = runCli(argv, userEnv());
    expect(r.code).toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(NOISE);
  });
});
