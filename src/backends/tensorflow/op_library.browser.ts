/**
 * The browser build's twin of op_library.ts: the TensorFlow op library is a
 * Node addon loaded into tfjs-node's libtensorflow, which a page does not
 * have. The status says so instead of the function being missing.
 */
import type {OpLibraryStatus} from './op_library';

export type {OpLibraryKernel, OpLibraryStatus} from './op_library';

const STATUS: OpLibraryStatus = {
  loaded: false, path: '', error: 'not available in a browser (the TensorFlow op library needs tfjs-node)', ops: [], kernels: [],
};

export function defaultOpLibraryPath(): string {
  return '';
}

export function tensorflowOpLibraryStatus(): OpLibraryStatus {
  return STATUS;
}
