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
});
