/**
 * Loads the TensorFlow op library (kernels/bindings/tensorflow, built by
 * tools/build-tensorflow-ops.sh against tfjs-node's libtensorflow) into the
 * process, once. Its ops then run through tfjs-node (or tfjs-node-gpu, the same
 * addon over a CUDA build of libtensorflow) like TensorFlow's own.
 * Where it cannot load, the `tensorflow` backend falls back to composite ops
 * and `tensorflowOpLibraryStatus()` says why.
 */
import * as fs from 'fs';
import * as path from 'path';
import {packageRoot} from '../../package_root';
import {loadTfjsNode} from './load_tfjs_node';

/** A kernel the op library registered: the op it runs and the device it runs on. */
export interface OpLibraryKernel {
  op: string;
  device: 'CPU' | 'GPU';
}

export interface OpLibraryStatus {
  loaded: boolean;
  path: string;
  error: string | null;
  /** Names of the TensorFlow ops the library registered (empty when not loaded). */
  ops: string[];
  /** The kernels it registered for them (empty when not loaded). */
  kernels: OpLibraryKernel[];
}

let status: OpLibraryStatus | null = null;

export function defaultOpLibraryPath(): string {
  return process.env.TFJS_BT_TENSORFLOW_OPS ??
      path.join(packageRoot(), 'kernels', 'bindings', 'tensorflow', 'build', 'Release', 'bt_tensorflow_ops.node');
}

/** Loads the library if it has not been tried yet; never throws. */
export function tensorflowOpLibraryStatus(): OpLibraryStatus {
  if (status) return status;
  const file = defaultOpLibraryPath();
  try {
    if (!fs.existsSync(file)) {
      // The script ships with the package, so this command works from a clone and from an install alike.
      const script = path.join(packageRoot(), 'tools', 'build-tensorflow-ops.sh');
      status = {loaded: false, path: file, error: `not built (run: bash ${script})`, ops: [], kernels: []};
    } else {
      // tfjs-node(-gpu) must be in the process first: the library links the libtensorflow it loaded.
      loadTfjsNode();
      const lib = require(file) as {ok: boolean; error: string; ops?: string[]; kernels?: OpLibraryKernel[]};
      status = {
        loaded: lib.ok, path: file, error: lib.ok ? null : `registration failed: ${lib.error}`,
        ops: lib.ok ? [...(lib.ops ?? [])] : [], kernels: lib.ok ? [...(lib.kernels ?? [])] : [],
      };
    }
  } catch (e) {
    status = {loaded: false, path: file, error: (e as Error).message.split('\n')[0], ops: [], kernels: []};
  }
  return status;
}
