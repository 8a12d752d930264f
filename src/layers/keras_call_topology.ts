/**
 * Rewrites a Keras model's JSON so that tfjs-layers' loader connects every
 * tensor a MultiHeadAttention call receives.
 *
 * Keras records `mha(query, value, attention_mask=m)` as one inbound entry for
 * the query whose keyword arguments name the other tensors; tfjs-layers hands
 * those names to the layer unresolved, and the layer can only find tensors
 * connected to its query (see call_arguments.ts). A value, key or mask from a
 * separate Input is not. Here each such tensor becomes an inbound entry of its
 * own, with `input_roles` saying which argument each entry is, which the loader
 * resolves (and orders) like any other layer input.
 */
import type * as tf from '@tensorflow/tfjs-core';

const TENSOR_KEYWORDS = ['value', 'key', 'attention_mask'];

// Keras JSON is walked structurally; its shape is checked where it is read.
type Json = any;

function isReference(x: unknown): x is [string, number, number] {
  return Array.isArray(x) && x.length >= 3 && typeof x[0] === 'string' && typeof x[1] === 'number' &&
      typeof x[2] === 'number';
}

function rewriteNode(node: Json[]): Json[] {
  if (node.length !== 1 || !Array.isArray(node[0])) return node;
  const [name, nodeIndex, tensorIndex, kwargs = {}] = node[0] as [string, number, number, Record<string, Json>];
  if (kwargs['input_roles'] != null || kwargs['inputRoles'] != null) return node;
  const rest: Record<string, Json> = {};
  // One entry per distinct tensor, listing the roles it plays (self-attention: query and value).
  const entries = new Map<string, {ref: [string, number, number]; roles: string[]}>();
  const add = (role: string, ref: [string, number, number]) => {
    const id = JSON.stringify(ref.slice(0, 3));
    const entry = entries.get(id);
    if (entry != null) entry.roles.push(role);
    else entries.set(id, {ref: [ref[0], ref[1], ref[2]], roles: [role]});
  };
  add('query', [name, nodeIndex, tensorIndex]);
  for (const [keyword, value] of Object.entries(kwargs)) {
    if (TENSOR_KEYWORDS.includes(keyword) && isReference(value)) add(keyword, value);
    else if (!(TENSOR_KEYWORDS.includes(keyword) && value == null)) rest[keyword] = value;
  }
  const list = [...entries.values()];
  const newKwargs = {...rest, input_roles: list.map(e => e.roles)};
  return list.map(e => [...e.ref, newKwargs]);
}

function rewriteLayers(layers: Json[]): Json[] {
  return layers.map(layer => {
    let out = layer;
    if (layer?.class_name === 'MultiHeadAttention' && Array.isArray(layer.inbound_nodes)) {
      out = {...layer, inbound_nodes: layer.inbound_nodes.map(rewriteNode)};
    }
    if (Array.isArray(out?.config?.layers)) out = {...out, config: {...out.config, layers: rewriteLayers(out.config.layers)}};
    return out;
  });
}

/** A copy of a Keras model topology (model.json's `modelTopology`) with MultiHeadAttention calls rewritten. */
export function resolveKerasCallArguments(modelTopology: Json): Json {
  if (modelTopology == null || typeof modelTopology !== 'object') return modelTopology;
  if (modelTopology.model_config != null) {
    return {...modelTopology, model_config: resolveKerasCallArguments(modelTopology.model_config)};
  }
  if (Array.isArray(modelTopology.config?.layers)) {
    return {...modelTopology, config: {...modelTopology.config, layers: rewriteLayers(modelTopology.config.layers)}};
  }
  return modelTopology;
}

/**
 * An IOHandler that loads through `handler` and rewrites the topology, for
 * `tf.loadLayersModel(withKerasCallArguments(tf.io.fromMemory(...)))` when a
 * MultiHeadAttention's value, key or attention_mask comes from its own Input.
 */
export function withKerasCallArguments(handler: tf.io.IOHandler): tf.io.IOHandler {
  if (handler.load == null) throw new Error('withKerasCallArguments: the handler cannot load');
  const load = handler.load.bind(handler);
  return {
    load: async () => {
      const artifacts = await load();
      return {...artifacts, modelTopology: resolveKerasCallArguments(artifacts.modelTopology)};
    },
  };
}
