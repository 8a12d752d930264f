/**
 * Runs the built CLI (node dist/cli/main.js; `npm test` builds dist first) as
 * a user would: the environment as given, nothing set and nothing filtered for it.
 */
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {FIXTURES_DIR} from './load_fixture';

export const REPO_ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');

export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): {code: number | null; stdout: string; stderr: string} {
  const r = spawnSync(process.execPath, [CLI, ...args], {encoding: 'utf8', env});
  return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

/** Output lines without blank ones. */
export const nonBlankLines = (text: string): string[] => text.split('\n').filter(l => l.trim() !== '');

export function cliTmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bt-cli-'));
}

export const fixtureDir = (id: string): string => path.join(FIXTURES_DIR, id);
