/** `--version` prints the package version. */
import * as fs from 'fs';
import * as path from 'path';
import {REPO_ROOT, runCli} from './helpers/run_cli';

test('--version prints the package version', () => {
  const {version} = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {version: string};
  for (const flag of ['--version', '-V']) {
    const r = runCli([flag]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
    expect(r.stderr).toBe('');
  }
});
