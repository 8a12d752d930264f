/** The race's section of benchmarks/RESULTS.md, kept between markers so a rerun replaces only it. */
import * as fs from 'fs';
import {Machine} from '../machine';
import {machineSection} from '../results';
import {CellResult} from './measure';

export const SECTION_BEGIN = '<!-- race:begin (written by npm run bench:race) -->';
export const SECTION_END = '<!-- race:end -->';

export interface RaceSetup {
  sentences: number;
  tokens: number;
  batchSizes: number[];
  repeats: number;
  budgetSeconds: number;
  quick: boolean;
  referenceEngine: string;
}

export interface MissingEngine {
  engine: string;
  reason: string;
}

export interface EngineAgreement {
  engine: string;
  minCosine: number;
}

const fmt = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '—');

export function raceSection(machine: Machine, setup: RaceSetup, cells: CellResult[], missing: MissingEngine[],
                            agreement: EngineAgreement[]): string {
  const lines = [SECTION_BEGIN, '## Sentence embeddings race: all-MiniLM-L6-v2', ''];
  if (setup.quick) {
    lines.push('**Smoke run (`--quick`): too short to be a measurement; `npm run bench:race` gives the real figures.**', '');
  }
  lines.push(
      `Written by \`npm run bench:race\` (benchmarks/race). ${setup.sentences} generated sentences (${setup.tokens} tokens, ` +
      'seeded, mixed lengths), the same consecutive batches for every engine, each batch padded to its longest sentence. ' +
      'Every engine runs the same fp32 weights: the tfjs graph converted by tools/minilm/convert.py ' +
      '(.deps/minilm-tfjs-fp32) and, for transformers.js, the ONNX export of the same PyTorch weights (.deps/minilm-onnx). ' +
      `Figures are the median of up to ${setup.repeats} full passes after a warm-up batch; a cell that could not finish ` +
      `a pass within ${setup.budgetSeconds} s reports the batches it completed ("covered"). ` +
      `"vs transformers.js" is sentences/s divided by ${setup.referenceEngine}'s at the same batch size.`,
      '', machineSection(machine), '',
      '| batch | engine | sentences/s | tokens/s | ms/batch | vs transformers.js | covered |',
      '| ---: | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const batchSize of setup.batchSizes) {
    const group = cells.filter(c => c.batchSize === batchSize);
    const reference = group.find(c => c.engine === setup.referenceEngine);
    for (const c of group) {
      const ratio = reference ? c.sentencesPerSecond / reference.sentencesPerSecond : NaN;
      lines.push(`| ${batchSize} | ${c.engine} | ${fmt(c.sentencesPerSecond, 1)} | ${fmt(c.tokensPerSecond, 0)} | ` +
                 `${fmt(c.msPerBatch, 1)} | ${fmt(ratio, 2)}× | ${c.sentencesCovered}/${setup.sentences} |`);
    }
  }
  if (agreement.length > 0) {
    lines.push('', `Agreement on the first 8 sentences (minimum cosine to ${setup.referenceEngine}): ` +
               agreement.map(a => `${a.engine} ${a.minCosine.toFixed(6)}`).join('; ') + '.');
  }
  if (missing.length > 0) lines.push('', 'Not run here: ' + missing.map(m => `${m.engine}: ${m.reason}`).join('; ') + '.');
  lines.push('', '![sentences/s per engine and batch size](race-chart.svg)', SECTION_END);
  return lines.join('\n');
}

/** Replaces the race section of a results file, or appends it. */
export function writeSection(file: string, section: string): void {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmark results\n';
  const begin = current.indexOf(SECTION_BEGIN);
  const end = current.indexOf(SECTION_END);
  const next = begin >= 0 && end > begin ?
      current.slice(0, begin) + section + current.slice(end + SECTION_END.length) :
      current.replace(/\n*$/, '\n\n') + section + '\n';
  fs.writeFileSync(file, next);
}
