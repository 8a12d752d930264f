/**
 * How the tensors of a MultiHeadAttention call reach the layer.
 *
 * Keras calls it as `layer(query, value, key=None, attention_mask=None,
 * use_causal_mask=False)`. tfjs-layers passes a layer one list of input tensors
 * (which is what its graph records and feeds at run time) plus keyword
 * arguments, so every call is normalised into a list of distinct tensors and
 * the roles each plays (`inputRoles`, e.g. [['query', 'value'], ['attentionMask']],
 * kept in the call's keyword arguments and so in the saved model).
 *
 * A Keras model's JSON records only the query as the node's input; value, key
 * and attention_mask are keyword arguments holding `[layerName, nodeIndex,
 * tensorIndex]` references, which tfjs-layers' loader hands over unresolved
 * (with the layer name camel-cased, as it converts every string in a config).
 * They are resolved here against the graph built so far.
 */
import type {SymbolicTensor} from '@tensorflow/tfjs-layers';
import type {Layer} from '@tensorflow/tfjs-layers/dist/engine/topology';

export type InputRole = 'query' | 'value' | 'key' | 'attentionMask';

export const TENSOR_ARGUMENTS: readonly InputRole[] = ['value', 'key', 'attentionMask'];

/** A tensor argument as a Keras model's JSON records it. */
export type TensorReference = [string, number, number];

export function isTensorReference(x: unknown): x is TensorReference {
  return Array.isArray(x) && x.length >= 3 && typeof x[0] === 'string' &&
      typeof x[1] === 'number' && typeof x[2] === 'number';
}

/** Role names compare without case or underscores ('attention_mask' = 'attentionMask'). */
export function normaliseRole(name: string): InputRole {
  const key = name.replace(/_/g, '').toLowerCase();
  const role = (['query', 'value', 'key', 'attentionMask'] as InputRole[]).find(r => r.toLowerCase() === key);
  if (role == null) throw new Error(`MultiHeadAttention: unknown input role '${name}'`);
  return role;
}

/** tfjs-layers' toCamelCase, which its loader applies to strings inside a config. */
function camelCase(identifier: string): string {
  if (identifier.length <= 1 || identifier.indexOf('_') === -1) return identifier;
  return identifier.replace(/[_]+(\w|$)/g, (_m, p1: string) => p1.toUpperCase());
}

/**
 * The tensor a reference names, searched over every layer connected to
 * `start` (through inbound and outbound nodes): the graph tfjs-layers has built
 * so far while it loads a model in topological order.
 */
export function resolveReference(start: SymbolicTensor[], ref: TensorReference): SymbolicTensor | null {
  const [name, nodeIndex, tensorIndex] = ref;
  const seen = new Set<Layer>();
  const queue: Layer[] = start.map(t => t.sourceLayer as unknown as Layer);
  while (queue.length > 0) {
    const layer = queue.pop()!;
    if (seen.has(layer)) continue;
    seen.add(layer);
    if (layer.name === name || camelCase(layer.name) === name) {
      const node = layer.inboundNodes[nodeIndex];
      const tensor = node?.outputTensors[tensorIndex];
      if (tensor != null) return tensor as unknown as SymbolicTensor;
    }
    for (const node of layer.inboundNodes) queue.push(...node.inboundLayers.filter(l => l != null));
    for (const node of layer.outboundNodes) queue.push(node.outboundLayer, ...node.inboundLayers.filter(l => l != null));
  }
  return null;
}

/** The roles of each input entry: one tensor may play several (self-attention: query and value). */
export type EntryRoles = InputRole[][];

/** Keras' positional form `[query, value, key?]`. */
export function positionalRoles(count: number): EntryRoles {
  return (['query', 'value', 'key'] as InputRole[]).slice(0, count).map(r => [r]);
}

/** Reads saved roles: one name or a list of names per entry. */
export function parseRoles(raw: unknown): EntryRoles {
  if (!Array.isArray(raw)) throw new Error(`MultiHeadAttention: inputRoles must be a list, got ${JSON.stringify(raw)}`);
  return raw.map(entry => (Array.isArray(entry) ? entry : [entry]).map(r => normaliseRole(String(r))));
}

export function entryOf(roles: EntryRoles, role: InputRole): number {
  return roles.findIndex(entry => entry.includes(role));
}

/**
 * Gives each distinct tensor one entry: tfjs-layers' executor counts a
 * tensor's consumers per layer but releases it once per input entry, so a
 * tensor listed twice would be disposed while later layers still need it.
 */
export function mergeRepeatedTensors<T>(tensors: T[], roles: EntryRoles): {tensors: T[]; roles: EntryRoles} {
  const outTensors: T[] = [];
  const outRoles: EntryRoles = [];
  tensors.forEach((tensor, i) => {
    const at = outTensors.indexOf(tensor);
    if (at >= 0) {
      outRoles[at] = [...outRoles[at], ...roles[i]];
    } else {
      outTensors.push(tensor);
      outRoles.push([...roles[i]]);
    }
  });
  return {tensors: outTensors, roles: outRoles};
}
