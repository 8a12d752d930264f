import * as tf from '@tensorflow/tfjs-core';

interface EngineTapeState {
  state: {activeTape: unknown};
}

/**
 * tf.grads, callable from inside a gradient function, and giving zeros for an
 * input the result does not depend on (an empty problem: attention over no
 * keys, a batch of 0) where tf.grads would throw.
 *
 * tfjs-core (4.x) keeps one tape in `engine.state.activeTape`; a gradient
 * computed during another backward pass replaces it and finally sets it to
 * null, which breaks the outer pass when it cleans up. The outer tape is put
 * back afterwards. The tests of both composite-backward paths cover this
 * against the installed tfjs.
 */
export function gradsInsideBackward(
    f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine();
  const outerTape = (engine as unknown as EngineTapeState).state.activeTape;
  try {
    return tf.tidy(() => {
      const {grads} = engine.gradients(() => f(...xs), xs, dy, /* allowNoGradients= */ true);
      return xs.map((x, i) => grads[i] ?? tf.zeros(x.shape));
    });
  } finally {
    (engine as unknown as EngineTapeState).state.activeTape = outerTape;
  }
}
