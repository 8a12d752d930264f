/**
 * Puts libtensorflow in the process through the package that provides the
 * `tensorflow` backend: tfjs-node, or tfjs-node-gpu (the same addon over a
 * CUDA build of libtensorflow, tools/setup-tfjs-node-gpu.sh). Shared by the op
 * library, which must join the libtensorflow already loaded, and the CLI.
 */
import {findBackendFactory} from '@tensorflow/tfjs-core';

/** The packages that provide the `tensorflow` backend, in the order tried when neither is loaded yet. */
export const TFJS_NODE_PACKAGES = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'] as const;

/**
 * Where tfjs-node or tfjs-node-gpu has registered the `tensorflow` backend, nothing is loaded (each
 * loads its binding on import). Otherwise the first of the two that is installed, whose name is
 * returned. Only the package itself missing moves on to the next; a broken install (e.g. no binding)
 * is thrown, as is the first package's not-found error when neither is installed.
 */
export function loadTfjsNode(load: (name: string) => unknown = require): string | null {
  if (findBackendFactory('tensorflow')) return null;
  let notFound: Error | undefined;
  for (const name of TFJS_NODE_PACKAGES) {
    try {
      load(name);
      return name;
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && (e as Error).message.includes(`'${name}'`);
      if (!missing) throw e;
      notFound = notFound ?? (e as Error);
    }
  }
  throw notFound;
}
