/** What the benchmarks ran on, and the float32 FMA peak measured by benchmarks/fma_probe.c. */
import {execFileSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The repository root, from benchmarks/ as source or from its compiled copy in build/bench/benchmarks/. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'benchmarks', 'fma_probe.c'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root from ' + __dirname);
    dir = parent;
  }
  return dir;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  isa: string;
  node: string;
  os: string;
  date: string;
  peakGflops: number | null;
  peakNote: string;
}

function cpuFlags(): string[] {
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    return (/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/);
  } catch {
    return [];
  }
}

/** Compiles and runs the FMA probe with one thread per core; null (with a note) where no C compiler works. */
function measurePeak(cores: number, avx512: boolean): {gflops: number | null; note: string} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fma-probe-'));
  const exe = path.join(dir, 'fma_probe');
  const isaFlags = avx512 ? ['-mavx512f', '-mfma'] : ['-mavx2', '-mfma'];
  try {
    execFileSync('cc', ['-O3', '-funroll-all-loops', ...isaFlags, '-pthread', path.join(repoRoot(), 'benchmarks', 'fma_probe.c'),
                        '-o', exe], {stdio: 'pipe'});
    // Best of three: the probe is short and a busy moment only lowers it.
    let best = 0;
    for (let i = 0; i < 3; i++) {
      best = Math.max(best, JSON.parse(execFileSync(exe, [String(cores)], {encoding: 'utf8'})).gflops);
    }
    return {gflops: best, note: `FMA probe, ${avx512 ? 'AVX-512' : 'AVX2'}, ${cores} threads, best of 3`};
  } catch (e) {
    return {gflops: null, note: `FMA probe unavailable: ${(e as Error).message.split('\n')[0]}`};
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

export function describeMachine(): Machine {
  const flags = cpuFlags();
  const avx512 = flags.includes('avx512f');
  const cores = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  const peak = process.arch === 'x64' ? measurePeak(cores, avx512) : {gflops: null, note: 'FMA probe is x86-64 only'};
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    isa: avx512 ? 'AVX-512F' : flags.includes('avx2') ? 'AVX2' : process.arch,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString(),
    peakGflops: peak.gflops,
    peakNote: peak.note,
  };
}
