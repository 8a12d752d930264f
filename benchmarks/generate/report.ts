/** The generation benchmark's section for benchmarks/RESULTS.md, between markers so a rerun replaces only it. */
import * as fs from 'fs';
import {Machine} from '../machine';
import {machineSection} from '../results';
import {DecoderModel} from './engine';
import {Agreement, agreement, CellResult, LongResult} from './measure';

export const SECTION_BEGIN = '<!-- generate:begin (written by npm run bench:generate) -->';
export const SECTION_END = '<!-- generate:end -->';

export interface GenerateSetup {
  quick: boolean;
  promptLength: number;
  newTokens: number;
  recomputeNewTokens: number;
  batchSizes: number[];
  referenceEngine: string;
  recomputeEngine: string;
  long: boolean;
  longSteps: number;
  window: number;
  windowCentres: number[];
  /** The recomputing baseline's steps are timed every sampleStride positions inside each window. */
  sampleStride: number;
}

export interface EngineNote {
  model: string;
  engine: string;
  text: string;
}

export interface MissingEngine {
  model: string;
  engine: string;
  reason: string;
}

const fmt = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

function agreementText(a: Agreement | null): string {
  if (!a) return '—';
  return `${a.identical}/${a.compared} (rows ${a.identicalRows}/${a.rows}, first difference at ${
      a.identicalRows === a.rows ? '—' : a.shortestCommonPrefix})`;
}

function describeModel(m: DecoderModel): string {
  const family = m.modelType === 'gpt2' ? 'GPT-2 (distilgpt2\'s size: 6 layers, 768 wide, 12 heads, vocab 50257, tied head; ' +
      `${m.maxPositions} positions instead of 1024, to reach position 1024+)` :
      m.modelType === 'mistral' ? 'Llama-style (Mistral classes without sliding window: RoPE, RMSNorm, SwiGLU; 6 layers, ' +
      `768 wide, 12 query heads, 4 key/value heads, FFN 2048, vocab 32000, untied head, ${m.maxPositions} positions)` :
      m.modelType;
  return `\`${m.name}\`: ${family}, ${(m.parameters / 1e6).toFixed(1)} M parameters`;
}

/** The 1-minute load average at the end of the measured runs: on a shared machine, other work may have run too. */
function loadLine(machine: Machine, cells: CellResult[], longResults: LongResult[]): string {
  const loads = [...cells.map(c => c.loadAverage), ...longResults.map(r => r.loadAverage)].filter(Number.isFinite);
  if (loads.length === 0) return '';
  const [low, high] = [Math.min(...loads), Math.max(...loads)];
  return `- 1-minute load average at the end of each measured run: ${low.toFixed(2)}–${high.toFixed(2)} on ${machine.cores} cores` +
         (high > machine.cores ? ' (above the core count: the engines\' own threads count — the JavaScript thread beside the compute threads, onnxruntime\'s pool — and so would any other work; compare the ratios, measured back to back, rather than single figures)' : '');
}

export function generateSection(machine: Machine, setup: GenerateSetup, models: DecoderModel[], cells: CellResult[],
                                 longResults: LongResult[], missing: MissingEngine[], notes: EngineNote[] = []): string {
  const lines = [SECTION_BEGIN, '## Text generation: GPT-2 and Llama-style decoders (random weights)', ''];
  if (setup.quick) {
    lines.push('**Smoke run (`--quick`): too short to be a measurement; `npm run bench:generate` gives the real figures.**', '');
  }
  lines.push(
      'Written by `npm run bench:generate` (benchmarks/generate). Two random-initialised decoders, one seeded set of fp32 ' +
      'weights each, built by tools/decoder_bench/make_models.py into .deps/bench-decoders: the tfjs graph model ' +
      '(input_ids, attention_mask → logits for every position) for the tfjs engines and the ONNX export with past ' +
      'key/values of the same weights for transformers.js.',
      '', ...models.map(m => `- ${describeModel(m)}`), '',
      `Greedy decoding of seeded random prompts of ${setup.promptLength} tokens (every row of a batch the same length), no EOS. ` +
      `"decode tokens/s" is batch × (new tokens − 1) over the decode steps' time (the first new token comes with the ` +
      'prefill); "tokens/s with prefill" is batch × new tokens over the whole call. "ms/step" is the median decode step ' +
      '(one new token for every row). "vs transformers.js" divides decode tokens/s by ' +
      `${setup.referenceEngine}'s for the same model and batch. "${setup.recomputeEngine}" runs the converted graph on the ` +
      'whole sequence for every new token (no cache), right-padded, argmax at the last real position' +
      (setup.recomputeNewTokens !== setup.newTokens ?
          `; it generates only ${setup.recomputeNewTokens} new tokens (too slow for ${setup.newTokens}), so its figures cover ` +
          `positions ${setup.promptLength}–${setup.promptLength + setup.recomputeNewTokens - 1}, not ${setup.promptLength}–${setup.promptLength + setup.newTokens - 1}` :
          '') + '. Token agreement counts tokens equal to transformers.js\' at the same index (random weights can tie or ' +
      'nearly tie; after a first difference greedy continuations part ways).',
      '', machineSection(machine), loadLine(machine, cells, longResults), '',
      `### Throughput: prompt ${setup.promptLength}, ${setup.newTokens} new tokens`, '',
      '| model | batch | engine | new tokens | decode tokens/s | tokens/s with prefill | prefill ms | ms/step | vs transformers.js | vs recompute (with prefill) | tokens equal to transformers.js |',
      '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const model of models) {
    for (const batchSize of setup.batchSizes) {
      const group = cells.filter(c => c.model === model.name && c.batchSize === batchSize);
      const reference = group.find(c => c.engine === setup.referenceEngine);
      const recompute = group.find(c => c.engine === setup.recomputeEngine);
      for (const c of group) {
        const ratio = reference ? c.decodeTokensPerSecond / reference.decodeTokensPerSecond : NaN;
        const overRecompute = recompute && c !== recompute ? fmt(c.tokensPerSecond / recompute.tokensPerSecond, 1) + '×' : '—';
        const agree = reference && c !== reference ? agreement(c.tokens, reference.tokens) : null;
        lines.push(`| ${model.name} | ${batchSize} | ${c.engine} | ${c.newTokens} | ${fmt(c.decodeTokensPerSecond, 1)} | ` +
                   `${fmt(c.tokensPerSecond, 1)} | ${fmt(c.prefillMs, 1)} | ${fmt(c.msPerStep, 2)} | ` +
                   `${c === reference ? '1.00×' : fmt(ratio, 2) + '×'} | ${overRecompute} | ${c === reference ? 'reference' : agreementText(agree)} |`);
      }
    }
  }
  if (setup.long && longResults.length > 0) {
    const [low, high] = setup.windowCentres;
    lines.push('', `### Flat in position, flat in memory: batch 1, prompt ${setup.promptLength}, ${setup.longSteps} decode steps`, '',
               `ms/step at position p is the median decode step over positions p ± ${setup.window}. Cached engines generate ` +
               `${setup.longSteps + 1} new tokens in one call (every step timed; memory sampled after the first new token, ` +
               'after decode step 1 and after the last); the recomputing baseline has no state, so its steps are timed ' +
               `singly at sampled positions (every ${setup.sampleStride} positions within each window) instead of generating the tokens between. ` +
               'The key/value cache is allocated for the whole generation up front and the system maps its pages as they are first ' +
               'written, so RSS grows by the cache\'s size as positions advance (gpt2-6l: 36 KiB per token, llama-6l: 12 KiB); ' +
               'with node --expose-gc (as npm run bench:generate runs it) memory is sampled after a full collection.',
               '',
               `| model | engine | ms/step at ${low} | ms/step at ${high} | ${high} / ${low} | tensors after step 1 → last | RSS MiB after step 1 → last |`,
               '| --- | --- | ---: | ---: | ---: | --- | --- |');
    for (const r of longResults) {
      const a = r.windows[low];
      const b = r.windows[high];
      const first = r.memory.find(m => m.token === 2);
      const last = r.memory.length > 0 ? r.memory[r.memory.length - 1] : undefined;
      const tensors = first && last && first.numTensors !== null && last.numTensors !== null ?
          `${first.numTensors} → ${last.numTensors}` : '—';
      const rss = first && last && last !== first ? `${fmt(first.rssMiB, 0)} → ${fmt(last.rssMiB, 0)} (${
          last.rssMiB >= first.rssMiB ? '+' : ''}${fmt(last.rssMiB - first.rssMiB, 0)})` : '—';
      lines.push(`| ${r.model} | ${r.engine} | ${fmt(a, 2)} | ${fmt(b, 2)} | ${fmt(b / a, 2)}× | ` +
                 `${r.method === 'sampled' ? 'not generated (sampled steps)' : tensors} | ${r.method === 'sampled' ? '—' : rss} |`);
    }
  }
  if (notes.length > 0) {
    lines.push('', 'How the engines ran: ' + notes.map(n => `${n.engine} on ${n.model}: ${n.text}`).join('; ') + '.');
  }
  if (missing.length > 0) {
    lines.push('', 'Not run here: ' + missing.map(m => `${m.engine} on ${m.model}: ${m.reason}`).join('; ') + '.');
  }
  lines.push('', '![ms per decode step against position, per engine](generate-chart.svg)', SECTION_END);
  return lines.join('\n');
}

/** Replaces the generation section of a results file, or appends it. */
export function writeSection(file: string, section: string): void {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const begin = current.indexOf(SECTION_BEGIN);
  const end = current.indexOf(SECTION_END);
  const next = begin >= 0 && end > begin ?
      current.slice(0, begin) + section + current.slice(end + SECTION_END.length) :
      (current ? current.replace(/\n*$/, '\n\n') : '') + section + '\n';
  fs.writeFileSync(file, next);
}
