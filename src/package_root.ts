import * as fs from 'fs';
import * as path from 'path';

let cached: string | null = null;

/**
 * The directory of this package's package.json, found by walking up from the
 * running file: the same answer from src/ (tests), dist/ (the build) and
 * build/bench/ (benchmarks), where native libraries are looked up.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'tfjs-better-transformer') {
      cached = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`tfjs-better-transformer: cannot find the package root above ${__dirname}`);
    dir = parent;
  }
}
