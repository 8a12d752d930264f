/**
 * The tfjs-better-transformer CLI, run as a user would (node dist/cli/main.js;
 * `npm test` builds dist first): inspect's JSON contract, convert's output
 * loading with the package, bench's parity, generate's tokens against the
 * Python greedy references, and one-line errors.
 */
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {Tokenizer} from '@huggingface/tokenizers';
import '../src';
import {readModelArtifacts} from '../src/io/model_files';
import {FIXTURES_DIR, loadFixture} from './helpers/load_fixture';
import {outputsOf, relativeErrorOnTokens, validTokensOf} from './helpers/fixture_outputs';
import {loadGenerationFixture} from './helpers/generation_fixture';

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

/** stderr as its non-blank lines. Nothing else is dropped: the CLI keeps tfjs' banner and TensorFlow's logs out itself. */
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], {encoding: 'utf8'});
  return {code: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter(l => !/^\s*$/.test(l))};
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bt-cli-'));
}

describe('tfjs-better-transformer CLI', () => {
  test('inspect --json gives the stable report contract', () => {
    const r = cli('inspect', path.join(FIXTURES_DIR, 'bert', 'model.json'), '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report).sort()).toEqual(['architecture', 'fused', 'skipped']);
    expect(typeof report.architecture).toBe('string');
    expect(report.fused).toHaveLength(1);
    for (const block of report.fused) {
      expect(Object.keys(block).sort()).toEqual(['kind', 'layers', 'nodes']);
      // Both layers run as one stack (padding removed once).
      expect(block.kind).toBe('encoderStack');
      expect(block.layers).toBe(2);
      expect(block.nodes.every((n: unknown) => typeof n === 'string')).toBe(true);
    }
    expect(Array.isArray(report.skipped)).toBe(true);
  });

  test('inspect explains a refused model', () => {
    const r = cli('inspect', path.join(FIXTURES_DIR, 'gptj_lm'), '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.fused).toHaveLength(0);
    expect(report.skipped[0].reason).toMatch(/cannot tell the scores from the mask/);
    const text = cli('inspect', path.join(FIXTURES_DIR, 'gptj_lm'));
    expect(text.stdout).toMatch(/left alone: 2/);
    // T5's encoder (relative position bias) is planned as one encoder stack.
    const t5 = JSON.parse(cli('inspect', path.join(FIXTURES_DIR, 't5_encoder'), '--json').stdout);
    expect(t5.fused.map((b: {kind: string; layers: number}) => [b.kind, b.layers])).toEqual([['encoderStack', 2]]);
  });

  test('convert writes a model that loads with the package and matches the reference', () => {
    const out = tmpdir();
    const r = cli('convert', path.join(FIXTURES_DIR, 'bert'), out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/require\('tfjs-better-transformer'\)/);
    const fixture = loadFixture('bert');
    const model = loadGraphModelSync(readModelArtifacts(out)) as unknown as GraphModel;
    const inputs = fixture.inputs();
    const outputs = outputsOf(model, inputs, fixture.outputNames);
    const want = fixture.referenceOutput(fixture.outputNames[0]);
    expect(relativeErrorOnTokens(outputs[fixture.outputNames[0]], want, validTokensOf(fixture.reference))).toBeLessThan(1e-4);
    tf.dispose([want, ...Object.values(outputs), ...Object.values(inputs)]);
    model.dispose();
  });

  test('bench reports timings and parity as JSON', () => {
    const json = path.join(tmpdir(), 'bench.json');
    const r = cli('bench', path.join(FIXTURES_DIR, 'bert'), '--batch', '2', '--seq', '8', '--padding', '0.4', '--runs', '2',
        '--backend', 'cpu', '--gpu-precision', 'medium', '--json', json);
    expect(r.code).toBe(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    // On the CPU the precision changes nothing but is reported (it is process-wide on tfjs-node-gpu).
    expect(result.gpuPrecision).toBe('medium');
    expect(result.originalMs).toBeGreaterThan(0);
    expect(result.transformedMs).toBeGreaterThan(0);
    expect(result.maxRelativeDifference).toBeLessThan(1e-4);
    expect(result.fused).toEqual([{kind: 'encoderStack', layers: 2}]);
  });

  test.each([
    ['a missing model', ['inspect', '/no/such/model.json'], /no model at/],
    ['malformed JSON', ['inspect', 'MALFORMED'], /not valid JSON/],
    ['weights that do not match the manifest', ['convert', 'TRUNCATED', 'OUT'], /weights do not match the manifest/],
    ['an unknown command', ['frobnicate'], /unknown command/],
    ['a bad option value', ['bench', path.join(FIXTURES_DIR, 'bert'), '--batch', 'zero'], /--batch must be a positive integer/],
    ['a GPU precision that does not exist', ['bench', path.join(FIXTURES_DIR, 'bert'), '--gpu-precision', 'low'],
      /option '--gpu-precision <precision>' argument 'low' is invalid/],
  ])('%s is one clear line and a non-zero exit', (_, args, message) => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"modelTopology": ');
    const truncated = path.join(dir, 'truncated');
    fs.mkdirSync(truncated);
    for (const f of fs.readdirSync(path.join(FIXTURES_DIR, 'bert'))) fs.copyFileSync(path.join(FIXTURES_DIR, 'bert', f), path.join(truncated, f));
    const shard = path.join(truncated, 'group1-shard1of1.bin');
    fs.truncateSync(shard, fs.statSync(shard).size - 8);
    const argv = args.map(a => (a === 'MALFORMED' ? path.join(dir, 'bad.json') : a === 'TRUNCATED' ? truncated : a === 'OUT' ? path.join(dir, 'out') : a));
    const r = cli(...argv);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(message);
    expect(r.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });
});

interface GenerateJson {
  tokens: number[][];
  promptTokens: number;
  newTokens: number;
  msPerToken: number;
  tokensPerSecond: number;
  mode: 'cached' | 'recompute';
  reason: string | null;
  backend: string;
  weightPrecision: string;
  sequences: Array<{prompt: number[]; tokens: number[]; finishReason: string; text?: string}>;
  timing: {steps: number; newTokens: number; ms: number; firstTokenMs: number | null; tokensPerSecond: number};
}

function generateJson(...args: string[]): GenerateJson {
  const r = cli('generate', ...args, '--json');
  if (r.code !== 0) throw new Error(`generate ${args.join(' ')} exited ${r.code}: ${r.stderr.join('\n')}`);
  return JSON.parse(r.stdout) as GenerateJson;
}

const ids = (tokens: number[]) => tokens.join(',');

describe('tfjs-better-transformer generate', () => {
  const NEW = 8;

  describe.each(['gpt2_lm', 'mistral_lm'])('%s', id => {
    const dir = path.join(FIXTURES_DIR, id);
    const g = loadGenerationFixture(id);

    test('one prompt gives the Python greedy tokens, with the JSON contract', () => {
      const out = generateJson(dir, '--prompt-ids', ids(g.prompts[0]), '--max-new-tokens', String(NEW), '--backend', 'cpu',
          '--gpu-precision', 'highest');
      expect(Object.keys(out).sort()).toEqual(['backend', 'gpuPrecision', 'mode', 'msPerToken', 'newTokens', 'promptTokens', 'reason',
        'sequences', 'timing', 'tokens', 'tokensPerSecond', 'weightPrecision']);
      expect(out).toMatchObject({mode: 'cached', reason: null, backend: 'cpu', gpuPrecision: 'highest', weightPrecision: 'float32'});
      expect(out).toMatchObject({tokens: [g.greedySingle[0].slice(0, NEW)], promptTokens: g.prompts[0].length, newTokens: NEW});
      expect(out.msPerToken).toBeGreaterThan(0);
      expect(out.tokensPerSecond).toBeGreaterThan(0);
      expect(out.sequences).toEqual([{prompt: g.prompts[0], tokens: g.greedySingle[0].slice(0, NEW), finishReason: 'length'}]);
      expect(out.timing.steps).toBe(NEW);
      expect(out.timing.newTokens).toBe(NEW);
      expect(out.timing.ms).toBeGreaterThan(0);
      expect(out.timing.tokensPerSecond).toBeGreaterThan(0);
    });

    test('repeated --prompt-ids make a batch that gives the Python batched tokens', () => {
      const out = generateJson(dir, '--prompt-ids', ids(g.prompts[0]), '--prompt-ids', ids(g.prompts[1]),
          '--max-new-tokens', String(NEW), '--backend', 'cpu');
      expect(out.sequences.map(s => s.prompt)).toEqual([g.prompts[0], g.prompts[1]]);
      expect(out.sequences.map(s => s.tokens)).toEqual([g.greedyBatched[0].slice(0, NEW), g.greedyBatched[1].slice(0, NEW)]);
      expect(out.timing.newTokens).toBe(2 * NEW);
    });

    test('--no-cache recomputes with the graph and gives the same tokens', () => {
      const out = generateJson(dir, '--prompt-ids', ids(g.prompts[0]), '--prompt-ids', ids(g.prompts[2]),
          '--max-new-tokens', String(NEW), '--no-cache', '--backend', 'cpu');
      expect(out.mode).toBe('recompute');
      expect(out.reason).toMatch(/--no-cache/);
      expect(out.sequences.map(s => s.tokens)).toEqual([g.greedySingle[0].slice(0, NEW), g.greedySingle[2].slice(0, NEW)]);
    });

    test('the human form: one line of ids per sequence on stdout, how they were made on stderr', () => {
      // The default backend: tensorflow where tfjs-node is installed, else cpu.
      const r = cli('generate', dir, '--prompt-ids', ids(g.prompts[0]), '--prompt-ids', ids(g.prompts[1]), '--max-new-tokens', String(NEW));
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${g.greedyBatched[0].slice(0, NEW).join(' ')}\n${g.greedyBatched[1].slice(0, NEW).join(' ')}\n`);
      expect(r.stderr).toHaveLength(1);
      expect(r.stderr[0]).toMatch(/^mode cached .*backend (cpu|tensorflow): 16 new tokens in 8 steps, .* tokens\/s/);
    });
  });

  const mistral = path.join(FIXTURES_DIR, 'mistral_lm');
  const m = loadGenerationFixture('mistral_lm');

  test('--stream prints the tokens as they come: one line for one sequence, a line per step for a batch', () => {
    const one = cli('generate', mistral, '--prompt-ids', ids(m.prompts[0]), '--max-new-tokens', String(NEW), '--stream', '--backend', 'cpu');
    expect(one.code).toBe(0);
    expect(one.stdout).toBe(`${m.greedySingle[0].slice(0, NEW).join(' ')}\n`);
    expect(one.stderr[0]).toMatch(/^mode cached/);
    // The second sequence stops at its second token (a stop token neither sequence makes earlier); '-' marks it finished.
    const stop = m.greedyBatched[1][1];
    expect([...m.greedyBatched[0].slice(0, 4), m.greedyBatched[1][0]]).not.toContain(stop);
    const batch = cli('generate', mistral, '--prompt-ids', ids(m.prompts[0]), '--prompt-ids', ids(m.prompts[1]), '--max-new-tokens', '4',
        '--stop-tokens', String(stop), '--stream', '--backend', 'cpu');
    expect(batch.code).toBe(0);
    const steps = m.greedyBatched[0].slice(0, 4).map((t, i) => `step ${i}: ${t} ${i <= 1 ? m.greedyBatched[1][i] : '-'}`);
    expect(batch.stdout).toBe(`${steps.join('\n')}\n`);
  });

  test('--stop-tokens ends a sequence at the token (kept), finishReason stop', () => {
    const stop = m.greedySingle[0][2];
    expect(m.greedySingle[0].slice(0, 2)).not.toContain(stop);
    const out = generateJson(mistral, '--prompt-ids', ids(m.prompts[0]), '--prompt-ids', ids(m.prompts[1]), '--max-new-tokens', String(NEW),
        '--stop-tokens', String(stop), '--backend', 'cpu');
    expect(m.greedySingle[1].slice(0, NEW)).not.toContain(stop);
    expect(out.sequences.map(s => [s.tokens, s.finishReason])).toEqual([
      [m.greedySingle[0].slice(0, 3), 'stop'], [m.greedySingle[1].slice(0, NEW), 'length']]);
  });

  test('sampling with --seed is reproducible', () => {
    const args = [mistral, '--prompt-ids', ids(m.prompts[0]), '--max-new-tokens', '16', '--temperature', '1.5', '--top-k', '40',
      '--top-p', '0.95', '--seed', '7', '--backend', 'cpu'];
    const a = generateJson(...args);
    const b = generateJson(...args);
    expect(a.sequences[0].tokens).toHaveLength(16);
    expect(b.sequences[0].tokens).toEqual(a.sequences[0].tokens);
    // It did sample: 16 draws at temperature 1.5 from a 100-token vocabulary are not the greedy tokens.
    expect(a.sequences[0].tokens).not.toEqual(m.greedySingle[0].slice(0, 16));
  });

  test('--weight-precision bfloat16 runs the cached step on bfloat16 weights', () => {
    const out = generateJson(mistral, '--prompt-ids', ids(m.prompts[0]), '--max-new-tokens', String(NEW), '--weight-precision', 'bfloat16',
        '--backend', 'cpu');
    expect(out).toMatchObject({mode: 'cached', weightPrecision: 'bfloat16'});
    expect(out.sequences[0].tokens).toHaveLength(NEW);
  });

  test('--tokenizer encodes --prompt text and decodes the new tokens', () => {
    // A word-piece tokenizer whose words w0 … w99 are the fixture's ids 0 … 99.
    const vocab: Record<string, number> = {'[UNK]': 100};
    for (let i = 0; i < 100; i++) vocab[`w${i}`] = i;
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({
      version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: {type: 'WhitespaceSplit'}, post_processor: null,
      decoder: {type: 'WordPiece', prefix: '##', cleanup: false},
      model: {type: 'WordPiece', vocab, unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100},
    }));
    const words = (tokens: number[]) => tokens.map(t => `w${t}`).join(' ');
    const out = generateJson(mistral, '--tokenizer', path.join(dir, 'tokenizer.json'), '--prompt', words(m.prompts[0]),
        '--prompt', words(m.prompts[1]), '--max-new-tokens', String(NEW), '--backend', 'cpu');
    expect(out.sequences).toEqual([0, 1].map(b => ({
      prompt: m.prompts[b], tokens: m.greedyBatched[b].slice(0, NEW), finishReason: 'length', text: words(m.greedyBatched[b].slice(0, NEW)),
    })));
    const text = cli('generate', mistral, '--tokenizer', dir, '--prompt', words(m.prompts[0]), '--max-new-tokens', String(NEW), '--backend', 'cpu');
    expect(text.stdout).toBe(`${words(m.greedySingle[0].slice(0, NEW))}\n`);
    const unknown = cli('generate', mistral, '--tokenizer', dir, '--prompt', 'w1 hello', '--backend', 'cpu');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toEqual(['tfjs-better-transformer: --prompt #1: 100 (position 2) is not a token id in [0, 100)']);
  });

  test('--tokenizer with test/fixtures/demo_tokenizer (a real tokenizer.json, 100 ids): text in, text out on gpt2_lm', () => {
    const dir = path.join(FIXTURES_DIR, 'demo_tokenizer');
    const model = path.join(FIXTURES_DIR, 'gpt2_lm');
    const read = (name: string) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
    // The demo's prompt and its ids as the Python tokenizers library encodes it (test/demo_tokenizer.test.ts: Node agrees).
    const {text: prompt, ids: promptIds} = (read('python_reference.json') as {texts: Array<{text: string; ids: number[]}>}).texts[0];
    const out = generateJson(model, '--tokenizer', path.join(dir, 'tokenizer.json'), '--prompt', prompt, '--max-new-tokens', String(NEW),
        '--backend', 'cpu');
    expect(out.sequences[0].prompt).toEqual(promptIds);
    const recomputed = generateJson(model, '--prompt-ids', ids(promptIds), '--max-new-tokens', String(NEW), '--no-cache', '--backend', 'cpu');
    expect(out.sequences[0].tokens).toEqual(recomputed.sequences[0].tokens);
    const text = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json')).decode(out.sequences[0].tokens, {skip_special_tokens: true});
    expect(text.length).toBeGreaterThan(0);
    expect(out.sequences[0].text).toBe(text);
    const plain = cli('generate', model, '--tokenizer', dir, '--prompt', prompt, '--max-new-tokens', String(NEW), '--backend', 'cpu');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(`${text}\n`);
  });

  const bart = path.join(FIXTURES_DIR, 'bart_seq2seq');
  const b = JSON.parse(fs.readFileSync(path.join(bart, 'generation.json'), 'utf8')) as {sources: number[][];
    decoderStartTokenId: number; eosTokenId: number; greedySingle: number[][]; beamSingle: number[][];
    beam: {numBeams: number; maxNewTokens: number}};
  const start = ['--decoder-start-token-id', String(b.decoderStartTokenId)];

  test('an encoder-decoder: greedy and --num-beams equal Python\'s generate()', () => {
    const greedy = generateJson(bart, '--prompt-ids', ids(b.sources[0]), ...start, '--stop-tokens', String(b.eosTokenId),
        '--min-new-tokens', '8', '--max-new-tokens', '8', '--backend', 'cpu');
    expect(greedy.mode).toBe('cached');
    expect(greedy.sequences[0].tokens).toEqual(b.greedySingle[0].slice(1, 9));
    const beams = generateJson(bart, '--prompt-ids', ids(b.sources[1]), '--prompt-ids', ids(b.sources[2]), ...start,
        '--stop-tokens', String(b.eosTokenId), '--num-beams', String(b.beam.numBeams), '--early-stopping',
        '--max-new-tokens', String(b.beam.maxNewTokens), '--backend', 'cpu');
    expect(beams.sequences.map(s => s.tokens)).toEqual([b.beamSingle[1].slice(1), b.beamSingle[2].slice(1)]);
  });

  test.each([
    ['no --decoder-start-token-id', [bart, '--prompt-ids', '5,6,7', '--backend', 'cpu'], 1, /--decoder-start-token-id is required/],
    ['--num-beams 0', [bart, '--prompt-ids', '5,6,7', ...start, '--num-beams', '0'], 2, /--num-beams .* expected an integer >= 1/],
    ['--num-beams with --stream', [bart, '--prompt-ids', '5,6,7', ...start, '--num-beams', '2', '--stream'], 2,
      /'--num-beams <k>' cannot be used with option '--stream'/],
    ['--num-beams with sampling', [bart, '--prompt-ids', '5,6,7', ...start, '--num-beams', '2', '--temperature', '0.7', '--backend', 'cpu'], 1,
      /beam sampling is not supported/],
    ['--num-beams on a decoder-only model', [path.join(FIXTURES_DIR, 'gpt2_lm'), '--prompt-ids', '5,6,7', '--num-beams', '2', '--backend', 'cpu'], 2,
      /--num-beams is for encoder-decoder models/],
  ] as Array<[string, string[], number, RegExp]>)('encoder-decoder: %s is one clear line and a non-zero exit', (_, args, code, message) => {
    const r = cli('generate', ...args);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(message);
  });

  const gpt2 = path.join(FIXTURES_DIR, 'gpt2_lm');
  const P = ['--prompt-ids', '85,64,52'];
  test.each([
    ['--max-new-tokens 0', [gpt2, ...P, '--max-new-tokens', '0'], 2, /'--max-new-tokens <n>' argument '0' is invalid\. expected an integer >= 1/],
    ['--max-new-tokens abc', [gpt2, ...P, '--max-new-tokens', 'abc'], 2, /--max-new-tokens .* expected an integer >= 1/],
    ['--max-new-tokens beyond the model', [gpt2, ...P, '--max-new-tokens', '1000', '--backend', 'cpu'], 1,
      /--max-new-tokens 1000 after a prompt of 3 tokens needs 1003 positions; the model takes \d+/],
    ['a non-integer id', [gpt2, '--prompt-ids', '1,x'], 2, /--prompt-ids .* 'x' is not a token id/],
    ['an empty --prompt-ids', [gpt2, '--prompt-ids', ' , '], 2, /--prompt-ids .* expected token ids/],
    ['an id outside the vocabulary', [gpt2, ...P, '--prompt-ids', '1,500', '--backend', 'cpu'], 1,
      /--prompt-ids #2: 500 \(position 2\) is not a token id in \[0, 100\)/],
    ['no prompt', [gpt2], 2, /--prompt-ids/],
    ['--prompt without --tokenizer', [gpt2, '--prompt', 'hello'], 2, /--prompt needs --tokenizer/],
    ['--temperature -1', [gpt2, ...P, '--temperature', '-1'], 2, /--temperature .* expected a number >= 0/],
    ['--top-k 1.5', [gpt2, ...P, '--top-k', '1.5'], 2, /--top-k .* expected an integer >= 0/],
    ['--top-p 2', [gpt2, ...P, '--top-p', '2'], 2, /--top-p .* expected a number in \(0, 1\]/],
    ['--seed -3', [gpt2, ...P, '--seed', '-3'], 2, /--seed .* expected an integer in \[0, 4294967295\]/],
    ['--stop-tokens outside the vocabulary', [gpt2, ...P, '--stop-tokens', '100', '--backend', 'cpu'], 1, /--stop-tokens: 100 is not a token id/],
    ['--weight-precision float16', [gpt2, ...P, '--weight-precision', 'float16'], 2, /--weight-precision .* float32, bfloat16/],
    ['--backend webgl', [gpt2, ...P, '--backend', 'webgl'], 2, /--backend .* cpu, tensorflow/],
    ['--json with --stream', [gpt2, ...P, '--json', '--stream'], 2, /'--json' cannot be used with option '--stream'/],
    ['a missing model', ['/no/such/model', ...P], 1, /^tfjs-better-transformer: no model at \/no\/such\/model/],
    ['a model that is not a decoder', [path.join(FIXTURES_DIR, 'bert'), ...P, '--backend', 'cpu'], 1, /cannot generate with this model/],
    ['a layers model', [path.join(FIXTURES_DIR, 'keras_decoder'), ...P], 1, /generate works on converted graph models/],
  ] as Array<[string, string[], number, RegExp]>)('%s is one clear line and a non-zero exit', (_, args, code, message) => {
    const r = cli('generate', ...args);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(message);
  });
});
