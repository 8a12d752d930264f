/**
 * The architecture table's files, models/*.json at the package root, read in
 * file-name order. The browser build uses architecture_files.browser.ts, where
 * the bundler has inlined the same files.
 */
import * as fs from 'fs';
import * as path from 'path';
import {packageRoot} from '../package_root';

/** Each models/*.json parsed, sorted by file name (architectures.ts gives them their type). */
export function readArchitectureFiles(): unknown[] {
  const dir = path.join(packageRoot(), 'models');
  return fs.readdirSync(dir).filter(f => f.endsWith('.json')).sort()
      .map(f => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as unknown);
}
