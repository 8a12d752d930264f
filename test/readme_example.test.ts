/** The README's quick-start example runs as written against the built package. */
import {execFileSync} from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

describe('README quick start', () => {
  it('runs and prints the documented shapes', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Quick start'));
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toBeDefined();
    // Written next to the consumers so that 'tfjs-better-transformer' resolves to this package.
    const file = path.join(__dirname, 'consumers', 'readme_example.generated.cjs');
    fs.writeFileSync(file, `require('@tensorflow/tfjs-core').env().set('IS_TEST', true);\n${code}`);
    try {
      const out = execFileSync(process.execPath, [file], {encoding: 'utf8'});
      expect(out).toContain('[ 2, 4, 16, 32 ]');
      expect(out).toContain('[ 2, 16, 64 ]');
      expect(out).toMatch(/scaledDotProductAttention: '(native-cpu|portable-typescript)'/);
    } finally {
      fs.unlinkSync(file);
    }
  });

  // The generation example, on the tiny GPT-2 of test/fixtures (needs tfjs-node, as the example does).
  const tfjsNode = (() => {
    try {
      require.resolve('@tensorflow/tfjs-node');
      return true;
    } catch {
      return false;
    }
  })();
  (tfjsNode ? it : it.skip)('generates with the documented calls and prints the documented values', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## API'));
    const blocks = [...section.matchAll(/```js\n([\s\S]*?)```/g)].map(m => m[1]);
    const code = blocks.find(b => b.includes('BetterTransformer.generator'));
    expect(code).toBeDefined();
    const fixture = path.join(__dirname, 'fixtures', 'gpt2_lm', 'model.json');
    const file = path.join(__dirname, 'consumers', 'readme_generate.generated.cjs');
    fs.writeFileSync(file, (code as string).replace('file://gpt2-tfjs/model.json', `file://${fixture}`));
    try {
      const out = execFileSync(process.execPath, [file], {encoding: 'utf8', env: {...process.env, TF_CPP_MIN_LOG_LEVEL: '3'}});
      expect(out).toContain('cached');
      expect(out).toContain('[ 20, 20 ]');
      expect(out.trim().split('\n').pop()?.trim().split(' ')).toHaveLength(20);
    } finally {
      fs.unlinkSync(file);
    }
  });
});
