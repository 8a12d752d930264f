/**
 * The browser test page's script (bundled by run.js with tfjs-core,
 * tfjs-backend-cpu, tfjs-converter and tfjs-layers, and this package through
 * its `browser` export): sets the `cpu` backend, then offers
 * `runBrowserSuite()`, which runs every case and returns the results to the
 * Node runner.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {activeImplementations, nativeCoreFailure, tensorflowOpLibraryStatus} from 'tfjs-better-transformer';
import {attentionCases} from './attention_suite';
import {encoderCases} from './encoder_suite';
import {fixtureCases} from './fixture_suite';
import {generationCases} from './generation_suite';
import {gradientCases} from './gradient_suite';
import {BrowserCase, CaseResult, check, runCase} from './suite';

/** What the browser build reports about itself: portable kernels, and why the Node-only ones are absent. */
const environmentCases: BrowserCase[] = [{
  suite: 'browser build',
  name: 'runs the portable TypeScript kernels on cpu; the native core and the TensorFlow op library say they are absent',
  run: () => {
    check(tf.getBackend() === 'cpu', `backend ${tf.getBackend()}`);
    const implementations = activeImplementations();
    check(implementations.scaledDotProductAttention === 'portable-typescript' &&
          implementations.transformerEncoderLayer === 'portable-typescript',
          `implementations ${JSON.stringify(implementations)}`);
    check(/browser/.test(nativeCoreFailure() ?? ''), `nativeCoreFailure() = ${nativeCoreFailure()}`);
    const status = tensorflowOpLibraryStatus();
    check(!status.loaded && /browser/.test(status.error ?? ''), `tensorflowOpLibraryStatus() = ${JSON.stringify(status)}`);
  },
}];

async function runBrowserSuite(): Promise<CaseResult[]> {
  await tf.setBackend('cpu');
  await tf.ready();
  const results: CaseResult[] = [];
  for (const c of [...environmentCases, ...attentionCases(), ...gradientCases(), ...encoderCases(), ...fixtureCases(), ...generationCases()]) {
    results.push(await runCase(c));
  }
  return results;
}

(globalThis as unknown as {runBrowserSuite: typeof runBrowserSuite}).runBrowserSuite = runBrowserSuite;
