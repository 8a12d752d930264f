/**
 * The batch and sequence length `bench` runs at: the options where the model
 * lets them vary, its own sizes where its inputs fix them, and a sequence no
 * longer than its position table. A value the model cannot take is an error
 * naming the option, what the model takes, and what to give instead.
 */
import type {InputSpec} from '../transform/verify/probe_inputs';
import type {PositionLimit} from './position_limit';

export const DEFAULT_BATCH = 8;
export const DEFAULT_SEQ = 128;

export interface BenchShape {
  batch: number;
  /** Null for models without a sequence axis (image models, fixed audio features). */
  seq: number | null;
  /** Why the sizes are what they are, when not simply the options given: printed before the run. */
  notes: string[];
}

function shapeOf(spec: InputSpec): string {
  return `'${spec.name.replace(/:0$/, '')}' [${(spec.shape ?? []).join(', ')}]`;
}

function resolveBatch(specs: InputSpec[], asked: number | undefined, notes: string[]): number {
  const fixed = specs.find(s => (s.shape?.[0] ?? -1) >= 0);
  if (!fixed) return asked ?? DEFAULT_BATCH;
  const size = (fixed.shape as number[])[0];
  if (asked !== undefined && asked !== size) {
    throw new Error(`--batch ${asked}: the model's inputs have a fixed batch of ${size} (${shapeOf(fixed)}); leave --batch out`);
  }
  if (asked === undefined) notes.push(`batch ${size}: fixed by the model's input ${shapeOf(fixed)}`);
  return size;
}

function resolveSeq(specs: InputSpec[], asked: number | undefined, limit: PositionLimit | null, notes: string[]): number | null {
  const free = specs.find(s => !s.shape || s.shape.length >= 2 && s.shape[1] < 0);
  if (!free) {
    // Token inputs with a fixed length (a model converted for one shape), or no sequence axis at all (pixels, audio features).
    const fixed = specs.find(s => (s.dtype === 'int32' || s.dtype === 'DT_INT32') && (s.shape?.length ?? 0) >= 2);
    const size = fixed ? (fixed.shape as number[])[1] : null;
    if (asked !== undefined && asked !== size) {
      throw new Error(fixed ? `--seq ${asked}: the model's inputs have a fixed sequence length of ${size} (${shapeOf(fixed)}); leave --seq out`
        : `--seq ${asked}: the model's inputs have no sequence axis to set (${specs.map(shapeOf).join(', ')}); leave --seq out`);
    }
    if (fixed && asked === undefined) notes.push(`seq ${size}: fixed by the model's input ${shapeOf(fixed)}`);
    return size;
  }
  if (limit && asked !== undefined && asked > limit.positions) {
    throw new Error(`--seq ${asked} is longer than the model takes: at most ${limit.positions} positions ` +
        `(${limit.source}); give --seq ${limit.positions} or less`);
  }
  if (asked !== undefined) return asked;
  if (limit && limit.positions < DEFAULT_SEQ) {
    notes.push(`seq ${limit.positions}: the model takes at most ${limit.positions} positions (${limit.source}); --seq defaults to ` +
        `${DEFAULT_SEQ} where a model takes that many`);
    return limit.positions;
  }
  return DEFAULT_SEQ;
}

export function benchShape(specs: InputSpec[], asked: {batch?: number; seq?: number}, limit: PositionLimit | null): BenchShape {
  const notes: string[] = [];
  const batch = resolveBatch(specs, asked.batch, notes);
  const seq = resolveSeq(specs, asked.seq, limit, notes);
  return {batch, seq, notes};
}
