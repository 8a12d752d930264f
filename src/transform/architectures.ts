/**
 * The architecture table in models/ (one JSON file per family, like Optimum's
 * mapping of model types to fused layers): how its blocks look, what the pass
 * fuses and into which ops, and the fixtures that prove it
 * (test/transform_fixtures.test.ts holds each fixture to its entry; the
 * README's table is generated from it). Blocks are matched by structure; the
 * family names describe which known models share that structure and name the
 * pattern in reports.
 */
import type {OpName} from '../op_table';
import {readArchitectureFiles} from './architecture_files';
import type {EncoderLayerMatch} from './match/encoder_layer';

export interface ArchitectureEntry {
  id: string;
  name: string;
  modelTypes: string[];
  blocks: {norm: 'pre' | 'post' | null; activation: string | null; causal: boolean};
  fusion: 'encoderLayer' | 'attention' | 'refused';
  reason: string | null;
  /** test/fixtures/<id> models of this family (tiny random weights through the real converter). */
  fixtures: string[];
  /** The op-table ops a transformed model of the family runs (graph models: its graph's fused ops). */
  fusedOps: OpName[];
  /** How BetterTransformer.generator runs the family's decoders: 'cached' on the fused decoder stack; null: not a decoder. */
  generation: 'cached' | null;
  notes: string;
}

let cache: ArchitectureEntry[] | null = null;

export function architectureTable(): ArchitectureEntry[] {
  if (cache) return cache;
  cache = readArchitectureFiles() as ArchitectureEntry[];
  return cache;
}

export function identifyArchitecture(layers: Array<EncoderLayerMatch | null>, attentionBlocks: number): string | null {
  if (attentionBlocks === 0) return null;
  const full = layers.filter((l): l is EncoderLayerMatch => l !== null);
  if (full.length === layers.length && full.length > 0) {
    const norm = full[0].normFirst ? 'pre' : 'post';
    const activation = full[0].activation;
    const uniform = full.every(l => l.normFirst === full[0].normFirst && l.activation === activation);
    const families = architectureTable()
        .filter(e => e.fusion === 'encoderLayer' && e.blocks.norm === norm && e.blocks.activation === activation)
        .map(e => e.name);
    const shape = `${norm}-norm encoder, ${activation}${uniform ? '' : ' (mixed layers)'}`;
    return families.length > 0 ? `${shape} (${families.join(' / ')})` : shape;
  }
  return 'transformer attention blocks';
}
