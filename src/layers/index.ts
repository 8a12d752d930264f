/** Keras layers for tfjs-layers models; loading tfjs-layers is left to first use. */
export {MultiHeadAttention} from './register_layers';
export {withKerasCallArguments} from './keras_call_topology';
