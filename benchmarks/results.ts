/** Benchmark rows, and how they are written to markdown and JSON. */
import {Machine} from './machine';

export interface ResultRow {
  bench: 'sdpa' | 'encoder';
  config: string;
  engine: string;
  medianMs: number | null;
  runs: number;
  /** Useful work per run, in GFLOP (padding and masked pairs excluded). */
  gflop: number;
  note: string;
}

export const gflopsOf = (r: ResultRow) => (r.medianMs ? r.gflop / (r.medianMs / 1000) : null);

function fmt(x: number | null, digits = 1): string {
  return x === null || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

/** Markdown table per bench: one row per config and engine, with the fused engine's speed-up over each. */
export function markdownTable(rows: ResultRow[], machine: Machine, fusedEngine: string): string {
  const lines: string[] = [];
  const peak = machine.peakGflops;
  for (const bench of ['sdpa', 'encoder'] as const) {
    const mine = rows.filter(r => r.bench === bench);
    if (mine.length === 0) continue;
    lines.push(bench === 'sdpa' ? '### Scaled dot-product attention (H = 12, D = 64)' :
                                  '### BERT-base encoder (E = 768, 12 heads, FFN 3072, 12 layers, post-norm, GELU, S = 128)');
    lines.push('', '| config | engine | median ms | GFLOP/s (useful) | % of peak | fused speed-up | note |',
               '| --- | --- | ---: | ---: | ---: | ---: | --- |');
    for (const config of [...new Set(mine.map(r => r.config))]) {
      const group = mine.filter(r => r.config === config);
      const fused = group.find(r => r.engine === fusedEngine);
      for (const r of group) {
        const g = gflopsOf(r);
        const speedup = fused?.medianMs && r.medianMs ? r.medianMs / fused.medianMs : null;
        lines.push(`| ${config} | ${r.engine} | ${fmt(r.medianMs)} | ${fmt(g)} | ${
            peak && g ? fmt(100 * g / peak, 0) + '%' : '—'} | ${r.engine === fusedEngine ? '1.0×' : speedup ? fmt(speedup, 2) + '×' : '—'} | ${r.note} |`);
      }
    }
    lines.push('');
  }
  return lines.join('\n');
}

export function machineSection(m: Machine): string {
  return [
    `- date: ${m.date}`,
    `- CPU: ${m.cpu}, ${m.cores} cores visible, ${m.isa}, ${m.memoryGiB} GiB`,
    `- float32 FMA peak: ${m.peakGflops ? m.peakGflops.toFixed(0) + ' GFLOP/s' : 'unknown'} (${m.peakNote})`,
    `- Node ${m.node}, ${m.os}`,
  ].join('\n');
}
