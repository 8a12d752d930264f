import * as tf from '@tensorflow/tfjs-core';

interface EngineTapeState {
  state: {activeTape: unknown};
}

/**
 * tf.grads, callable from inside a gradient function. tfjs-core (4.x) keeps
 * one tape in `engine.state.activeTape`; a gradient computed during another
 * backward pass replaces it and finally sets it to null, which breaks the
 * outer pass when it cleans up. The outer tape is put back afterwards. The
 * tests of both composite-backward paths cover this against the installed tfjs.
 */
export function gradsInsideBackward(
    f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine() as unknown as EngineTapeState;
  const outerTape = engine.state.activeTape;
  try {
    return tf.grads(f)(xs, dy);
  } finally {
    engine.state.activeTape = outerTape;
  }
}
