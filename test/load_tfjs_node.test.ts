/**
 * Which package gives the `tensorflow` backend (op library and CLI): tfjs-node, else tfjs-node-gpu,
 * nothing when one has registered the backend already; a broken install is reported, not skipped.
 * The loads are stand-ins, so every case runs whatever is installed here.
 */
import * as tf from '@tensorflow/tfjs-core';
import {loadTfjsNode, TFJS_NODE_PACKAGES} from '../src/backends/tensorflow/load_tfjs_node';

function notFound(name: string): Error {
  return Object.assign(new Error(`Cannot find module '${name}'\nRequire stack:\n- x.js`), {code: 'MODULE_NOT_FOUND'});
}

/** A loader for which only `installed` exist; records what was asked for. */
function loader(installed: string[], broken: string[] = []) {
  const asked: string[] = [];
  const load = (name: string) => {
    asked.push(name);
    if (broken.includes(name)) throw new Error(`${name}: the binding failed to load (libtensorflow.so.2: cannot open shared object file)`);
    if (!installed.includes(name)) throw notFound(name);
    return {};
  };
  return {load, asked};
}

describe('loadTfjsNode', () => {
  beforeAll(() => expect(tf.findBackendFactory('tensorflow')).toBeNull());

  test('tfjs-node first when both are installed', () => {
    const {load, asked} = loader([...TFJS_NODE_PACKAGES]);
    expect(loadTfjsNode(load)).toBe('@tensorflow/tfjs-node');
    expect(asked).toEqual(['@tensorflow/tfjs-node']);
  });

  test('tfjs-node-gpu when it is the one installed', () => {
    const {load, asked} = loader(['@tensorflow/tfjs-node-gpu']);
    expect(loadTfjsNode(load)).toBe('@tensorflow/tfjs-node-gpu');
    expect(asked).toEqual(['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']);
  });

  test('neither installed: the first package\'s not-found error', () => {
    expect(() => loadTfjsNode(loader([]).load)).toThrow("Cannot find module '@tensorflow/tfjs-node'");
  });

  test('a broken tfjs-node is the answer, not a reason to try the other', () => {
    const {load, asked} = loader([...TFJS_NODE_PACKAGES], ['@tensorflow/tfjs-node']);
    expect(() => loadTfjsNode(load)).toThrow(/binding failed to load/);
    expect(asked).toEqual(['@tensorflow/tfjs-node']);
  });

  test('a module missing inside tfjs-node (not tfjs-node itself) is not taken for tfjs-node missing', () => {
    const load = (name: string) => {
      if (name === '@tensorflow/tfjs-node') throw notFound('../build/Release/tfjs_binding.node');
      return {};
    };
    expect(() => loadTfjsNode(load)).toThrow(/tfjs_binding\.node/);
  });

  test('nothing is loaded when a tensorflow backend is registered already', () => {
    tf.registerBackend('tensorflow', () => null as unknown as tf.KernelBackend);
    try {
      const {load, asked} = loader([...TFJS_NODE_PACKAGES]);
      expect(loadTfjsNode(load)).toBeNull();
      expect(asked).toEqual([]);
    } finally {
      tf.removeBackend('tensorflow');
    }
  });
});
