/**
 * Where `npm run bench` writes its markdown. The committed
 * benchmarks/RESULTS.md only when asked with --write-results, and only from a
 * full run (a --quick or --only run would replace its full tables with partial
 * ones); otherwise benchmarks/last-results.md beside the harness (git-ignored),
 * so a run never changes a tracked file by surprise.
 */
import * as path from 'path';

export interface ResultsFileOptions {
  writeResults: boolean;
  noWrite: boolean;
  quick: boolean;
  only?: string;
}

export interface ResultsFile {
  /** Null with --no-write. */
  file: string | null;
  /** The committed RESULTS.md, which keeps the sections other tools write there. */
  committed: boolean;
  /** For the log: the path from the repository root, or why nothing is written. */
  where: string;
}

export function resultsFile(o: ResultsFileOptions, root: string): ResultsFile {
  if (o.writeResults && (o.quick || o.only || o.noWrite)) {
    const why = o.noWrite ? '--no-write' : o.quick ? '--quick' : `--only ${o.only}`;
    throw new Error(`--write-results rewrites the committed benchmarks/RESULTS.md, only from a full run: leave out ${why}`);
  }
  if (o.noWrite) return {file: null, committed: false, where: 'no markdown (--no-write)'};
  const file = path.join(root, 'benchmarks', o.writeResults ? 'RESULTS.md' : 'last-results.md');
  return {file, committed: o.writeResults, where: path.relative(root, file)};
}
