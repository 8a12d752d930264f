/**
 * Keras' MultiHeadAttention layer (tf-keras 2.15 semantics) for tfjs-layers,
 * whose Node build has none: a Keras model converted to a layers-model loads
 * with `tf.loadLayersModel`, with its weights under Keras' names and shapes
 * (`<layer>/query/kernel` [E, H, key_dim], `query/bias` [H, key_dim], the same
 * for key and value, `attention_output/kernel` [H, value_dim, *output_shape],
 * `attention_output/bias` [*output_shape]).
 *
 * The attention core runs either as plain tfjs ops (matMul and softmax, what
 * Keras computes) or on this package's fused `scaledDotProductAttention`,
 * chosen per instance by `useFusedAttention` (false unless
 * `BetterTransformer.transform` switches it on). Both follow Keras' masks
 * (keras_attention_mask.ts), rows whose keys are all masked included. Dropout
 * on the attention weights exists only in the plain path, which training with
 * dropout > 0 therefore uses.
 *
 * Supported: 3-D query/value/key [B, T|S, E] and attention over the sequence
 * axis (`attention_axes` null or [1]); other layouts are refused when the layer
 * is created or built.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type {LayerVariable, SymbolicTensor} from '@tensorflow/tfjs-layers';
import type {LayerArgs} from '@tensorflow/tfjs-layers/dist/engine/topology';
import type {Kwargs} from '@tensorflow/tfjs-layers/dist/types';
import {scaledDotProductAttention} from '../ops/scaled_dot_product_attention';
import {
  EntryRoles, InputRole, TENSOR_ARGUMENTS, TensorReference, entryOf, isTensorReference, mergeRepeatedTensors, parseRoles,
  positionalRoles, resolveReference,
} from './call_arguments';
import {kerasAdditiveMask, kerasCausalMask, kerasCombinedMask} from './keras_attention_mask';
import {fusedKerasAttention} from './fused_keras_attention';
import {registerLoadedLayerClass} from './layer_class_slot';
import {
  KerasObjectIdentifier, KernelAndBiasObjects, resolveKernelAndBiasObjects, serializeKerasObject,
} from './keras_objects';

type Shape = Array<number | null>;

export interface MultiHeadAttentionArgs extends LayerArgs {
  numHeads: number;
  keyDim: number;
  valueDim?: number | null;
  dropout?: number;
  useBias?: boolean;
  outputShape?: number | number[] | null;
  attentionAxes?: number | number[] | null;
  kernelInitializer?: KerasObjectIdentifier;
  biasInitializer?: KerasObjectIdentifier;
  kernelRegularizer?: KerasObjectIdentifier;
  biasRegularizer?: KerasObjectIdentifier;
  activityRegularizer?: KerasObjectIdentifier;
  kernelConstraint?: KerasObjectIdentifier;
  biasConstraint?: KerasObjectIdentifier;
  /** Recorded by Keras after building; the weights are created from the shapes the layer is applied to. */
  queryShape?: Shape | null;
  keyShape?: Shape | null;
  valueShape?: Shape | null;
  /** Run the attention core on the fused op (not serialised: a saved model stays a plain Keras model). */
  useFusedAttention?: boolean;
}

/** The arguments of the (single) graph call, which tfjs-layers' executor does not hand back to `call`. */
interface CallSignature {
  roles: EntryRoles;
  useCausalMask: boolean;
}

interface Projection {
  kernel: LayerVariable;
  bias: LayerVariable | null;
}

type AnyTensor = tf.Tensor | SymbolicTensor;

function isTensorLike(x: unknown): x is AnyTensor {
  return x instanceof tf.Tensor || x instanceof tfl.SymbolicTensor;
}

function errorFor(layerName: string, message: string): Error {
  return new Error(`MultiHeadAttention '${layerName}': ${message}`);
}

export class MultiHeadAttention extends tfl.layers.Layer {
  static className = 'MultiHeadAttention';

  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly dropout: number;
  readonly useBias: boolean;
  readonly attentionOutputShape: number[] | null;
  readonly attentionAxes: number[] | null;
  /** true: the attention core runs on this package's fused op. */
  useFusedAttention: boolean;

  private readonly objects: KernelAndBiasObjects;
  private callSignature: CallSignature | null = null;
  private rolesForBuild: EntryRoles | null = null;
  private builtShapes: {query: Shape; key: Shape; value: Shape} | null = null;
  private query: Projection | null = null;
  private key: Projection | null = null;
  private value: Projection | null = null;
  private attentionOutput: Projection | null = null;

  constructor(args: MultiHeadAttentionArgs) {
    super(args);
    const name = this.name;
    if (!Number.isInteger(args.numHeads) || args.numHeads < 1) throw errorFor(name, `numHeads must be a positive integer, got ${args.numHeads}`);
    if (!Number.isInteger(args.keyDim) || args.keyDim < 1) throw errorFor(name, `keyDim must be a positive integer, got ${args.keyDim}`);
    this.numHeads = args.numHeads;
    this.keyDim = args.keyDim;
    this.valueDim = args.valueDim ?? args.keyDim;
    this.dropout = args.dropout ?? 0;
    this.useBias = args.useBias ?? true;
    const outputShape = args.outputShape;
    this.attentionOutputShape = outputShape == null ? null : Array.isArray(outputShape) ? [...outputShape] : [outputShape];
    const axes = args.attentionAxes;
    this.attentionAxes = axes == null ? null : Array.isArray(axes) ? [...axes] : [axes];
    if (this.attentionAxes != null && !(this.attentionAxes.length === 1 && this.attentionAxes[0] === 1)) {
      throw errorFor(name, `attention_axes ${JSON.stringify(this.attentionAxes)} is not supported: only attention ` +
          'over the sequence axis of 3-D inputs (attention_axes null or [1])');
    }
    if (args.activityRegularizer != null) {
      throw errorFor(name, 'an activity regularizer is not supported (tfjs-layers cannot run one in a layer call)');
    }
    this.objects = resolveKernelAndBiasObjects(args);
    this.useFusedAttention = args.useFusedAttention ?? false;
    this.supportsMasking = true;
  }

  /**
   * Accepts Keras' call forms: `apply(query, {value, key?, attentionMask?,
   * useCausalMask?})`, `apply([query, value, key?])`, the tensor references of
   * a converted Keras model's JSON, and the normalised form this layer saves
   * (`apply([...tensors], {inputRoles})`).
   */
  override apply(inputs: tf.Tensor | tf.Tensor[] | SymbolicTensor | SymbolicTensor[], kwargs: Kwargs = {}):
      tf.Tensor | tf.Tensor[] | SymbolicTensor | SymbolicTensor[] {
    const {tensors, roles, rest} = this.normaliseCall(inputs, kwargs);
    const symbolic = tensors[0] instanceof tfl.SymbolicTensor;
    if (symbolic) {
      const signature = {roles, useCausalMask: Boolean(rest['useCausalMask'])};
      if (this.callSignature != null && JSON.stringify(this.callSignature) !== JSON.stringify(signature)) {
        throw errorFor(this.name, 'a layer shared by graph calls with different arguments is not supported ' +
            `(${JSON.stringify(this.callSignature)} vs ${JSON.stringify(signature)})`);
      }
      this.callSignature = signature;
    }
    this.rolesForBuild = roles;
    return super.apply(tensors as tf.Tensor[], {...rest, inputRoles: roles});
  }

  private normaliseCall(inputs: AnyTensor | AnyTensor[], kwargs: Kwargs):
      {tensors: AnyTensor[]; roles: EntryRoles; rest: Kwargs} {
    const list = Array.isArray(inputs) ? [...inputs] : [inputs];
    const rest: Kwargs = {...kwargs};
    for (const role of [...TENSOR_ARGUMENTS, 'inputRoles']) delete rest[role];
    if (rest['returnAttentionScores']) throw errorFor(this.name, 'return_attention_scores is not supported');

    let roles: EntryRoles;
    const tensorKwargs = TENSOR_ARGUMENTS.filter(r => kwargs[r] != null);
    if (kwargs['inputRoles'] != null) {
      roles = parseRoles(kwargs['inputRoles']);
    } else if (tensorKwargs.length === 0 && this.callSignature != null && list.length === this.callSignature.roles.length) {
      // tfjs-layers' executor feeds a node's input list without the call's keyword arguments.
      roles = this.callSignature.roles;
    } else if (tensorKwargs.length === 0) {
      roles = positionalRoles(list.length);
    } else {
      if (list.length !== 1) throw errorFor(this.name, 'pass one query tensor when value/key/attentionMask are keyword arguments');
      roles = [['query']];
      for (const role of tensorKwargs) {
        list.push(this.tensorArgument(role, kwargs[role], list[0]));
        roles.push([role]);
      }
    }
    if (roles.length !== list.length) throw errorFor(this.name, `${list.length} inputs for roles ${JSON.stringify(roles)}`);
    const merged = mergeRepeatedTensors(list, roles);
    const flat = merged.roles.flat();
    if (entryOf(merged.roles, 'query') !== 0 || new Set(flat).size !== flat.length) {
      throw errorFor(this.name, `the query must come first and no role may repeat, got ${JSON.stringify(merged.roles)}`);
    }
    if (!flat.includes('value')) throw errorFor(this.name, 'the value argument is required');
    return {tensors: merged.tensors, roles: merged.roles, rest};
  }

  private tensorArgument(role: InputRole, arg: unknown, query: AnyTensor): AnyTensor {
    if (isTensorLike(arg)) return arg;
    if (isTensorReference(arg) && query instanceof tfl.SymbolicTensor) {
      const resolved = resolveReference([query], arg as TensorReference);
      if (resolved != null) return resolved;
      throw errorFor(this.name, `cannot find the tensor ${JSON.stringify(arg)} given as ${role}: tfjs-layers ` +
          'passes it as an unresolved reference, and that layer is not connected to the query\'s inputs ' +
          '(separate Input layers for value, key or attention_mask are not supported when loading a Keras model)');
    }
    throw errorFor(this.name, `${role} must be a tensor, got ${JSON.stringify(arg)}`);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as Shape[];
    const roles = this.rolesForBuild ?? positionalRoles(shapes.length);
    const shapeOf = (role: InputRole) => shapes[entryOf(roles, role)];
    const query = shapeOf('query'), value = shapeOf('value');
    const key = entryOf(roles, 'key') >= 0 ? shapeOf('key') : value;
    for (const [role, shape] of [['query', query], ['value', value], ['key', key]] as const) {
      if (shape.length !== 3) {
        throw errorFor(this.name, `only 3-D ${role} tensors [batch, sequence, features] are supported, got shape ` +
            JSON.stringify(shape));
      }
      if (shape[2] == null) throw errorFor(this.name, `the feature size of ${role} must be known`);
    }
    const H = this.numHeads;
    const outShape = this.attentionOutputShape ?? [query[2] as number];
    this.query = this.projection('query', [query[2] as number, H, this.keyDim], [H, this.keyDim]);
    this.key = this.projection('key', [key[2] as number, H, this.keyDim], [H, this.keyDim]);
    this.value = this.projection('value', [value[2] as number, H, this.valueDim], [H, this.valueDim]);
    this.attentionOutput = this.projection('attention_output', [H, this.valueDim, ...outShape], outShape);
    this.builtShapes = {query, key, value};
    this.built = true;
  }

  private projection(name: string, kernelShape: number[], biasShape: number[]): Projection {
    const o = this.objects;
    const kernel = this.addWeight(`${name}/kernel`, kernelShape, 'float32', o.kernelInitializer as never,
        o.kernelRegularizer as never, true, o.kernelConstraint as never);
    const bias = this.useBias ?
        this.addWeight(`${name}/bias`, biasShape, 'float32', o.biasInitializer as never, o.biasRegularizer as never,
            true, o.biasConstraint as never) :
        null;
    return {kernel, bias};
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const query = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [...query.slice(0, -1), ...(this.attentionOutputShape ?? [query[query.length - 1]])];
  }

  /** Keras passes the query's mask on. */
  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // tfjs-layers' typings say Tensor, but null (no mask) is what its own layers return.
    const queryMask = Array.isArray(mask) ? mask[0] : mask;
    return (queryMask ?? null) as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const list = Array.isArray(inputs) ? inputs : [inputs];
      const roles = kwargs['inputRoles'] != null ? parseRoles(kwargs['inputRoles']) :
          this.callSignature?.roles ?? positionalRoles(list.length);
      const byRole = (role: InputRole): tf.Tensor | null => {
        const index = entryOf(roles, role);
        return index < 0 ? null : list[index];
      };
      const query = byRole('query') as tf.Tensor3D;
      const value = byRole('value') as tf.Tensor3D;
      const key = (byRole('key') ?? value) as tf.Tensor3D;
      const attentionMask = byRole('attentionMask');
      const useCausalMask = Boolean(kwargs['useCausalMask'] ?? this.callSignature?.useCausalMask ?? false);
      const training = Boolean(kwargs['training']);
      if (key.shape[1] !== value.shape[1]) {
        throw errorFor(this.name, `key and value must have the same sequence length, got ${key.shape} and ${value.shape}`);
      }
      if (attentionMask != null && (attentionMask.rank < 2 || attentionMask.rank > 4)) {
        throw errorFor(this.name, `attention_mask must be [B, T, S] or broadcastable to it, got shape ${attentionMask.shape}`);
      }

      const queryMask = this.queryMask(query, kwargs['mask'] as tf.Tensor | tf.Tensor[] | undefined);
      const valueMask = value === query ? queryMask : value.kerasMask ?? null;
      const keyMask = byRole('key') == null ? null :
          key === query ? queryMask : key === value ? valueMask : key.kerasMask ?? null;
      const T = query.shape[1], S = key.shape[1];

      const q = this.project(query, this.query!);
      const k = this.project(key, this.key!);
      const v = this.project(value, this.value!);
      const onlyCausal = useCausalMask && T === S && queryMask == null && valueMask == null && keyMask == null &&
          attentionMask == null;
      const combined = onlyCausal ? null :
          kerasCombinedMask({queryMask, valueMask, keyMask, attentionMask, useCausalMask, querySeqLength: T, keySeqLength: S});
      const scale = 1 / Math.sqrt(this.keyDim);

      let context: tf.Tensor4D;
      if (this.useFusedAttention && !(training && this.dropout > 0)) {
        context = combined == null ? scaledDotProductAttention(q, k, v, {scale, isCausal: onlyCausal}) :
            fusedKerasAttention(q, k, v, combined, scale);
      } else {
        const adder = combined != null ? kerasAdditiveMask(combined) :
            onlyCausal ? kerasAdditiveMask(kerasCausalMask(T, S)) : null;
        context = this.plainAttention(q, k, v, adder, scale, training);
      }
      return this.outputProjection(context);
    });
  }

  /** The query's Keras mask: its own, else the one tfjs-layers' executor passes for the first input. */
  private queryMask(query: tf.Tensor3D, executorMask: tf.Tensor | tf.Tensor[] | undefined): tf.Tensor | null {
    if (query.kerasMask != null) return query.kerasMask;
    const mask = Array.isArray(executorMask) ? executorMask[0] : executorMask;
    if (mask == null || mask.rank < 2) return null;
    // tfjs-layers' merge layers (Add, ...) return their mask with extra leading
    // 1s ([1, 1, B, T]). And the executor reuses one keyword-argument object
    // across layers, so a mask left there for an earlier layer is recognised by
    // its shape at least.
    const [B, T] = query.shape;
    const leading = mask.shape.slice(0, -2);
    if (mask.shape[mask.rank - 2] !== B || mask.shape[mask.rank - 1] !== T || leading.some(d => d !== 1)) return null;
    return mask.rank === 2 ? mask : tf.reshape(mask, [B, T]);
  }

  /** [B, L, E] -> [B, H, L, D] through a kernel [E, H, D] and bias [H, D]. */
  private project(x: tf.Tensor3D, projection: Projection): tf.Tensor4D {
    const [B, L, E] = x.shape;
    const [, H, D] = projection.kernel.shape as number[];
    let y = tf.matMul(tf.reshape(x, [B * L, E]), tf.reshape(projection.kernel.read(), [E, H * D]));
    if (projection.bias != null) y = tf.add(y, tf.reshape(projection.bias.read(), [H * D]));
    return tf.transpose(tf.reshape(y, [B, L, H, D]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  /** What Keras computes: softmax(q/sqrt(key_dim) · kᵀ + adder), dropout, times v. */
  private plainAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, adder: tf.Tensor4D | null, scale: number,
      training: boolean): tf.Tensor4D {
    let scores = tf.matMul(tf.mul(q, scale), k, false, true) as tf.Tensor4D;
    if (adder != null) scores = tf.add(scores, adder) as tf.Tensor4D;
    let weights: tf.Tensor4D = tf.softmax(scores);
    if (training && this.dropout > 0) weights = tf.dropout(weights, this.dropout) as tf.Tensor4D;
    return tf.matMul(weights, v);
  }

  /** [B, H, T, Dv] -> [B, T, *output_shape] through a kernel [H, Dv, *output_shape]. */
  private outputProjection(context: tf.Tensor4D): tf.Tensor {
    const [B, H, T, Dv] = context.shape;
    const outShape = this.attentionOutput!.kernel.shape.slice(2) as number[];
    const P = outShape.reduce((a, b) => a * b, 1);
    const merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [B * T, H * Dv]);
    let y = tf.matMul(merged, tf.reshape(this.attentionOutput!.kernel.read(), [H * Dv, P]));
    if (this.attentionOutput!.bias != null) y = tf.add(y, tf.reshape(this.attentionOutput!.bias.read(), [P]));
    return tf.reshape(y, [B, T, ...outShape]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const o = this.objects;
    const config: tf.serialization.ConfigDict = {
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      dropout: this.dropout,
      useBias: this.useBias,
      outputShape: this.attentionOutputShape == null ? null :
          this.attentionOutputShape.length === 1 ? this.attentionOutputShape[0] : this.attentionOutputShape,
      attentionAxes: this.attentionAxes,
      kernelInitializer: serializeKerasObject(o.kernelInitializer),
      biasInitializer: serializeKerasObject(o.biasInitializer),
      kernelRegularizer: serializeKerasObject(o.kernelRegularizer),
      biasRegularizer: serializeKerasObject(o.biasRegularizer),
      activityRegularizer: null,
      kernelConstraint: serializeKerasObject(o.kernelConstraint),
      biasConstraint: serializeKerasObject(o.biasConstraint),
      queryShape: this.builtShapes?.query ?? null,
      keyShape: this.builtShapes?.key ?? null,
      valueShape: this.builtShapes?.value ?? null,
    };
    return {...config, ...super.getConfig()};
  }
}

registerLoadedLayerClass(MultiHeadAttention);
