/** Figures from GenerationRuns: throughput, ms per step, position windows, memory, agreement of tokens. */
import * as os from 'os';
import {median} from '../stats';
import {GenerationRun, MemorySample} from './engine';

export interface CellResult {
  model: string;
  engine: string;
  batchSize: number;
  promptLength: number;
  newTokens: number;
  /** batch × (newTokens − 1) / time of the decode steps (the first token, which comes with the prefill, excluded). */
  decodeTokensPerSecond: number;
  /** batch × newTokens / whole call (prefill included). */
  tokensPerSecond: number;
  prefillMs: number;
  /** Median wall time of one decode step (one new token for every sequence of the batch). */
  msPerStep: number;
  totalMs: number;
  tokens: number[][];
  /** The run's decode steps (see GenerationRun.stepTimesMs). */
  stepTimesMs: number[];
  /** 1-minute load average when the run ended: above the core count, other work shared the CPU. */
  loadAverage: number;
}

export function cellResult(model: string, engine: string, promptLength: number, run: GenerationRun): CellResult {
  const batchSize = run.tokens.length;
  const newTokens = run.tokens[0]?.length ?? 0;
  const decodeMs = run.stepTimesMs.reduce((a, b) => a + b, 0);
  return {
    model, engine, batchSize, promptLength, newTokens,
    decodeTokensPerSecond: run.stepTimesMs.length > 0 ? batchSize * run.stepTimesMs.length / (decodeMs / 1000) : NaN,
    tokensPerSecond: batchSize * newTokens / (run.totalMs / 1000),
    prefillMs: run.prefillMs,
    msPerStep: run.stepTimesMs.length > 0 ? median(run.stepTimesMs) : NaN,
    totalMs: run.totalMs,
    tokens: run.tokens,
    stepTimesMs: run.stepTimesMs,
    loadAverage: os.loadavg()[0],
  };
}

export interface Agreement {
  /** Tokens equal at the same index, over the tokens both engines generated. */
  identical: number;
  compared: number;
  /** Rows whose compared tokens are all equal. */
  identicalRows: number;
  rows: number;
  /** Shortest common prefix over the rows (greedy decoding: after a first difference the rest usually differs). */
  shortestCommonPrefix: number;
}

export function agreement(a: number[][], b: number[][]): Agreement {
  let identical = 0;
  let compared = 0;
  let identicalRows = 0;
  let shortestCommonPrefix = Infinity;
  const rows = Math.min(a.length, b.length);
  for (let r = 0; r < rows; r++) {
    const n = Math.min(a[r].length, b[r].length);
    let prefix = n;
    for (let i = 0; i < n; i++) {
      if (a[r][i] === b[r][i]) identical++;
      else if (prefix === n) prefix = i;
    }
    compared += n;
    if (prefix === n) identicalRows++;
    shortestCommonPrefix = Math.min(shortestCommonPrefix, prefix);
  }
  return {identical, compared, identicalRows, rows, shortestCommonPrefix: rows > 0 ? shortestCommonPrefix : 0};
}

export interface PositionPoint {
  position: number;
  ms: number;
}

export interface LongResult {
  model: string;
  engine: string;
  promptLength: number;
  /** 'generated': one batch-1 generation, every step timed; 'sampled': single steps timed at chosen positions. */
  method: 'generated' | 'sampled';
  /** Decode steps generated (method 'generated'); 0 when sampled. */
  decodeSteps: number;
  /** ms per step by position: every step (generated) or the sampled positions. */
  points: PositionPoint[];
  /** Median ms per step over position ± window, by centre position; NaN where the run did not reach it. */
  windows: Record<number, number>;
  memory: MemorySample[];
  loadAverage: number;
}

/** Decode step i feeds new token i, at position promptLength + i. */
export function stepPoints(run: GenerationRun, promptLength: number): PositionPoint[] {
  return run.stepTimesMs.map((ms, i) => ({position: promptLength + i, ms}));
}

export function windowMedian(points: PositionPoint[], centre: number, halfWidth: number): number {
  const inside = points.filter(p => Math.abs(p.position - centre) <= halfWidth).map(p => p.ms);
  const covered = points.some(p => p.position <= centre - halfWidth) && points.some(p => p.position >= centre + halfWidth);
  return covered && inside.length > 0 ? median(inside) : NaN;
}

/** Positions to time a stateless engine at: each window (every `stride`) and a coarse sweep for the chart. */
export function samplePositions(centres: number[], halfWidth: number, stride: number, sweepFrom: number, sweepTo: number,
                                sweepStride: number): number[] {
  const positions = new Set<number>();
  for (const c of centres) {
    for (let p = c - halfWidth; p <= c + halfWidth; p += stride) if (p >= 0 && p <= sweepTo) positions.add(p);
  }
  for (let p = sweepFrom; p <= sweepTo; p += sweepStride) positions.add(p);
  return [...positions].sort((a, b) => a - b);
}

/** Medians over consecutive buckets of positions, for a readable chart of per-step times. */
export function bucketMedians(points: PositionPoint[], bucket: number): PositionPoint[] {
  const groups = new Map<number, number[]>();
  for (const p of points) {
    const key = Math.floor(p.position / bucket);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(p.ms);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0])
      .map(([key, ms]) => ({position: key * bucket + bucket / 2, ms: median(ms)}));
}
