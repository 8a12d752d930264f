/**
 * The GraphDef JSON that tensorflowjs_converter writes into model.json
 * (`modelTopology`), and the parsing of its input references.
 */
import {decodeBase64Text, encodeBase64Text} from './base64_text';

export interface AttrValue {
  i?: string | number;
  f?: number;
  b?: boolean;
  s?: string;
  type?: string;
  shape?: {dim?: Array<{size?: string | number}>; unknownRank?: boolean};
  tensor?: {dtype?: string; tensorShape?: {dim?: Array<{size?: string | number}>}};
  list?: {i?: Array<string | number>; f?: number[]; s?: string[]; type?: string[]; shape?: unknown[]; b?: boolean[]};
  func?: unknown;
  [key: string]: unknown;
}

export interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
  device?: string;
  [key: string]: unknown;
}

export interface GraphDef {
  node: NodeDef[];
  library?: unknown;
  versions?: unknown;
  [key: string]: unknown;
}

/**
 * Why `graph` is not a GraphDef the pass can read (a node that is not an
 * object with a string name and op, inputs that are not strings, a repeated
 * node name), or null when it is. model.json comes from disk: nothing in it is
 * trusted.
 */
export function graphDefProblem(graph: unknown): string | null {
  if (graph == null || typeof graph !== 'object' || !Array.isArray((graph as GraphDef).node)) {
    return 'the topology has no node list';
  }
  const names = new Set<string>();
  const nodes = (graph as GraphDef).node as unknown[];
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i] as Partial<NodeDef> | null;
    if (node == null || typeof node !== 'object' || typeof node.name !== 'string' || typeof node.op !== 'string') {
      return `node ${i} is not an object with a string name and op`;
    }
    if (node.input !== undefined && (!Array.isArray(node.input) || node.input.some(ref => typeof ref !== 'string'))) {
      return `node '${node.name}' has inputs that are not a list of strings`;
    }
    if (node.attr !== undefined && (node.attr === null || typeof node.attr !== 'object' || Array.isArray(node.attr))) {
      return `node '${node.name}' has attributes that are not an object`;
    }
    if (names.has(node.name)) return `two nodes are named '${node.name}'`;
    names.add(node.name);
  }
  return null;
}

/** One input of a node: `name`, `name:2` or a control input `^name`. */
export interface InputRef {
  node: string;
  output: number;
  control: boolean;
}

export function parseInputRef(ref: string): InputRef {
  if (ref.startsWith('^')) return {node: ref.slice(1), output: 0, control: true};
  const colon = ref.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(ref.slice(colon + 1))) {
    return {node: ref.slice(0, colon), output: Number(ref.slice(colon + 1)), control: false};
  }
  return {node: ref, output: 0, control: false};
}

export function formatInputRef(ref: InputRef): string {
  if (ref.control) return `^${ref.node}`;
  return ref.output === 0 ? ref.node : `${ref.node}:${ref.output}`;
}

/** The shape recorded in a node's `_output_shapes`/`shape` attribute, -1 for unknown dims. */
export function attrShape(value: AttrValue | undefined): number[] | null {
  const dims = value?.shape?.dim ?? value?.tensor?.tensorShape?.dim;
  if (value?.shape?.unknownRank) return null;
  if (!dims && (value?.shape || value?.tensor)) return [];
  if (!dims) return null;
  return dims.map(d => (d.size === undefined ? 1 : Number(d.size)));
}

export function attrInt(node: NodeDef, name: string): number | undefined {
  const value = node.attr?.[name]?.i;
  return value === undefined ? undefined : Number(value);
}

export function attrBool(node: NodeDef, name: string): boolean {
  return node.attr?.[name]?.b === true;
}

export function attrIntList(node: NodeDef, name: string): number[] | undefined {
  const list = node.attr?.[name]?.list?.i;
  return list?.map(Number);
}

/** String attributes are base64 in the JSON form of a GraphDef. */
export function attrString(node: NodeDef, name: string): string | undefined {
  const s = node.attr?.[name]?.s;
  return s === undefined ? undefined : decodeBase64Text(s);
}

export function encodeAttrString(value: string): AttrValue {
  return {s: encodeBase64Text(value)};
}
