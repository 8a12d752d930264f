/**
 * The GraphDef inside a tfjs graph model's model.json (modelTopology), as
 * tensorflowjs_converter writes it: TensorFlow NodeDefs in JSON form.
 */

/** A NodeDef attribute value in the converter's JSON encoding. */
export interface AttrValue {
  s?: string;          // base64
  i?: string | number; // int64 as decimal string
  f?: number;
  b?: boolean;
  type?: string;       // DT_FLOAT, ...
  shape?: {dim?: Array<{size?: string | number}>; unknownRank?: boolean};
  tensor?: unknown;
  list?: {s?: string[]; i?: Array<string | number>; f?: number[]; type?: string[]; shape?: unknown[]};
  func?: {name: string; attr?: Record<string, AttrValue>};
}

export interface NodeDef {
  name: string;
  op: string;
  input?: string[];
  device?: string;
  attr?: Record<string, AttrValue>;
}

export interface GraphTopology {
  node: NodeDef[];
  library?: {function?: unknown[]};
  versions?: {producer?: number; minConsumer?: number};
}

/** A data input "name" / "name:k", or a control input "^name". */
export interface InputRef {
  node: string;
  output: number;
  control: boolean;
}

export function parseInput(input: string): InputRef {
  if (input.startsWith('^')) return {node: input.slice(1), output: 0, control: true};
  const colon = input.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(input.slice(colon + 1))) {
    return {node: input.slice(0, colon), output: Number(input.slice(colon + 1)), control: false};
  }
  return {node: input, output: 0, control: false};
}

export function formatInput(ref: InputRef): string {
  if (ref.control) return `^${ref.node}`;
  return ref.output === 0 ? ref.node : `${ref.node}:${ref.output}`;
}

export function attrInt(node: NodeDef, name: string): number | undefined {
  const v = node.attr?.[name]?.i;
  return v === undefined ? undefined : Number(v);
}

export function attrFloat(node: NodeDef, name: string): number | undefined {
  return node.attr?.[name]?.f;
}

export function attrBool(node: NodeDef, name: string): boolean | undefined {
  return node.attr?.[name]?.b;
}

export function attrStrings(node: NodeDef, name: string): string[] {
  const list = node.attr?.[name]?.list?.s ?? [];
  return list.map(s => Buffer.from(s, 'base64').toString('utf8'));
}

export function attrInts(node: NodeDef, name: string): number[] {
  return (node.attr?.[name]?.list?.i ?? []).map(Number);
}

export function attrString(node: NodeDef, name: string): string | undefined {
  const s = node.attr?.[name]?.s;
  return s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');
}
