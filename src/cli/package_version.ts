/** The version in this package's package.json (what `--version` prints). */
import * as fs from 'fs';
import * as path from 'path';
import {packageRoot} from '../package_root';

export function packageVersion(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as {version?: unknown};
  if (typeof manifest.version !== 'string') throw new Error(`${path.join(packageRoot(), 'package.json')} has no version`);
  return manifest.version;
}
