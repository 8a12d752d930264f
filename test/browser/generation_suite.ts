/**
 * BetterTransformer.generator in the page: converted decoder fixtures loaded
 * over HTTP run cached on the fused decoder step (portable TypeScript on
 * `cpu`), verified against the graph, and give Python's greedy tokens for the
 * left-padded batch of prompts (test/generation.test.ts holds the Node side
 * to the same).
 */
import {BetterTransformer, loadGraphModelFromDirectory} from 'tfjs-better-transformer';
import type {GenerationFixture} from '../helpers/generation_fixture';
import {BrowserCase, check} from './suite';

async function checkGeneration(id: string): Promise<void> {
  const response = await fetch(`/fixtures/${id}/generation.json`);
  if (!response.ok) throw new Error(`GET generation.json: ${response.status}`);
  const expected = await response.json() as GenerationFixture;
  const model = await loadGraphModelFromDirectory(`/fixtures/${id}`);
  const generator = BetterTransformer.generator(model);
  try {
    const report = generator.report;
    check(report.mode === 'cached', `${id}: generator mode ${report.mode} (${report.reason})`);
    check(report.implementation === 'portable-typescript', `${id}: the fused step runs ${report.implementation}`);
    const verified = report.verification?.maxRelativeDifference ?? Infinity;
    check(verified < 1e-5, `${id}: the fused step is ${verified} from the graph on the probe prompts`);
    const result = await generator.generate(expected.prompts, {maxNewTokens: expected.maxNewTokens});
    for (const [row, tokens] of expected.greedyBatched.entries()) {
      check(result.tokens[row].join(',') === tokens.join(','),
            `${id} row ${row}: tokens ${result.tokens[row].join(' ')}, Python ${tokens.join(' ')}`);
    }
  } finally {
    generator.dispose();
    model.dispose();
  }
}

export function generationCases(): BrowserCase[] {
  return [
    {id: 'gpt2_lm', what: 'GPT-2, learned positions'},
    {id: 'mistral_lm', what: 'Mistral, rotary positions, RMSNorm, grouped-query attention'},
  ].map(({id, what}) => ({
    suite: 'BetterTransformer.generator on decoders loaded over HTTP',
    name: `${id} (${what}): Python's greedy tokens for a left-padded batch`,
    run: () => checkGeneration(id),
  }));
}
