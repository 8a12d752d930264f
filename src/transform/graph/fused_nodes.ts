/**
 * Reading the fused nodes a rewrite added: their inputs are named by the
 * comma-separated `inputs` attr (optional ones may be absent), in the order of
 * the node's input list.
 */
import {graphOpName} from '../../op_table';
import {attrString, InputRef, NodeDef, parseInputRef} from './graph_def';

/** The fused encoder ops: a layer, or consecutive layers as one stack. */
export const FUSED_ENCODER_OPS: ReadonlySet<string> =
    new Set([graphOpName('TransformerEncoderLayer'), graphOpName('TransformerEncoderStack')]);

/** [name, raw input] pairs of a fused node. */
export function fusedInputs(node: NodeDef): Array<[string, string]> {
  const names = (attrString(node, 'inputs') ?? '').split(',');
  return names.map((name, i) => [name, (node.input ?? [])[i]]);
}

/** The raw input of a fused node named `name` (matched without regard to case). */
export function fusedInput(node: NodeDef, name: string): string | undefined {
  return fusedInputs(node).find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

/** The same, as a reference. */
export function fusedInputRef(node: NodeDef, name: string): InputRef | undefined {
  const raw = fusedInput(node, name);
  return raw === undefined ? undefined : parseInputRef(raw);
}
