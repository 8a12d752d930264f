/**
 * test/fixtures/demo_tokenizer (tools/fixtures/demo_tokenizer.py): a real Hugging Face tokenizer.json for the
 * decoder fixtures' 100-token vocabulary. @huggingface/tokenizers in Node, loaded as the CLI and the demo load it
 * (with the tokenizer_config.json next to it), must encode and decode as the Python `tokenizers` library did when
 * it wrote python_reference.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import {Tokenizer} from '@huggingface/tokenizers';
import {FIXTURES_DIR, listFixtures} from './helpers/load_fixture';
import {loadGenerationFixture} from './helpers/generation_fixture';

const DIR = path.join(FIXTURES_DIR, 'demo_tokenizer');
const read = (name: string) => JSON.parse(fs.readFileSync(path.join(DIR, name), 'utf8'));

interface PythonReference {
  tokenizers: string;
  texts: Array<{text: string; ids: number[]; tokens: string[]; decoded: string}>;
  decoded: Array<{ids: number[]; text: string}>;
}

describe('demo tokenizer (test/fixtures/demo_tokenizer)', () => {
  const tokenizer = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
  const python = read('python_reference.json') as PythonReference;

  test('100 ids, 0 is the decoder fixtures\' pad token (special), 99 is <unk> (special)', () => {
    const vocab = tokenizer.get_vocab(true);
    expect(vocab.size).toBe(100);
    expect([...vocab.values()].sort((a, b) => a - b)).toEqual([...Array(100).keys()]);
    expect(vocab.get('<pad>')).toBe(0);
    expect(vocab.get('<unk>')).toBe(99);
    const decoders = listFixtures().filter(f => f.kind === 'decoder');
    expect(decoders.length).toBeGreaterThan(0);
    for (const f of decoders) {
      expect(loadGenerationFixture(f.id).padTokenId).toBe(0);
      expect((Object.values(read(path.join('..', f.id, 'reference.json')).outputs)[0] as {shape: number[]}).shape.at(-1)).toBe(100);
    }
  });

  test.each(python.texts.map(t => [JSON.stringify(t.text), t] as const))('encodes %s as Python does', (_, want) => {
    const encoding = tokenizer.encode(want.text);
    expect({ids: encoding.ids, tokens: encoding.tokens}).toEqual({ids: want.ids, tokens: want.tokens});
    // @huggingface/tokenizers refuses to decode no ids (Python gives '').
    if (want.ids.length > 0) expect(tokenizer.decode(encoding.ids, {skip_special_tokens: true})).toBe(want.decoded);
  });

  test('decodes every id, all ids at once and the fixture\'s tokens as Python does', () => {
    expect(python.decoded.length).toBeGreaterThan(100);
    for (const want of python.decoded) {
      expect({ids: want.ids, text: tokenizer.decode(want.ids, {skip_special_tokens: true})}).toEqual(want);
    }
  });

  test('without tokenizer_config.json, Node would clean up spaces before punctuation (why the config is there)', () => {
    const bare = new Tokenizer(read('tokenizer.json'), {});
    const ids = python.texts.find(t => t.text.startsWith('unknown'))!.ids;
    expect(bare.decode(ids, {skip_special_tokens: true})).not.toBe(tokenizer.decode(ids, {skip_special_tokens: true}));
  });
});
