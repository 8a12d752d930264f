/**
 * The README as a newcomer follows it. `npm pack` of this package and of the MiniLM package; a scratch
 * project that runs the Install section's commands after `cd ../your-project` (tarball paths pointed at
 * the packs); then every ```js block of the README, verbatim, in that project, next to the converted
 * models the README names (bert-tfjs, gpt2-tfjs: the tiny fixtures). Each must exit 0 with nothing on
 * stderr (no tfjs banner, no warning) and print what its comments say. The pack itself stays small
 * (<= 3 MB) and ships neither source maps nor outputs of sources that no longer exist.
 *
 * Needs `npm run build` first (npm test does it) and npm's cache or registry for the tfjs peers.
 */
import {execFileSync, spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const MAX_PACKED_BYTES = 3 * 1024 * 1024;

/** npm's own variables from an enclosing `npm test` would steer the scratch project's npm to this one. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

function run(command: string, args: string[], cwd: string): {stdout: string; stderr: string} {
  const result = spawnSync(command, args, {cwd, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 << 20});
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return {stdout: result.stdout, stderr: result.stderr};
}

interface Packed {filename: string; size: number; files: Array<{path: string}>}

function pack(args: string[], destination: string): Packed {
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destination, ...args],
                           {cwd: ROOT, env: cleanEnv(), encoding: 'utf8'});
  return (JSON.parse(out) as Packed[])[0];
}

function codeBlocks(language: string, text: string): string[] {
  return [...text.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map(m => m[1]);
}

/** The Install section's commands a user runs in their own project (after `cd ../your-project`). */
function projectInstallCommands(): string[][] {
  const install = README.slice(README.indexOf('## Install'), README.indexOf('## Quick start'));
  const block = codeBlocks('sh', install)[0];
  const lines = block.split('\n').map(l => l.replace(/#.*$/, '').trim());
  return lines.slice(lines.indexOf('cd ../your-project') + 1).filter(Boolean).map(l => l.split(/\s+/));
}

let scratch: string;
let packs: string;
let mainPack: Packed;

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) throw new Error('dist/ is missing: run npm run build first');
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-readme-'));
  packs = path.join(scratch, 'packs');
  const project = path.join(scratch, 'your-project');
  fs.mkdirSync(packs);
  fs.mkdirSync(project);
  mainPack = pack([], packs);
  pack(['-w', 'packages/all-minilm-l6-v2'], packs);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({name: 'your-project', version: '1.0.0', private: true}));
  for (const [command, ...args] of projectInstallCommands()) {
    const pointed = args.map(a => a.replace(/^\.\.\/tfjs-better-transformer\//, `${packs}/`));
    if (command === 'npm' && pointed[0] === 'install') pointed.push('--prefer-offline', '--no-audit', '--no-fund');
    run(command, pointed, project);
  }
  // The converted models the README's examples name.
  fs.cpSync(path.join(ROOT, 'test', 'fixtures', 'bert'), path.join(project, 'bert-tfjs'), {recursive: true});
  fs.cpSync(path.join(ROOT, 'test', 'fixtures', 'gpt2_lm'), path.join(project, 'gpt2-tfjs'), {recursive: true});
}, 600_000);

afterAll(() => {
  if (scratch) fs.rmSync(scratch, {recursive: true, force: true});
});

describe('npm pack', () => {
  test(`the main package is at most ${MAX_PACKED_BYTES / 1024 / 1024} MB packed, without the model`, () => {
    expect(mainPack.size).toBeLessThanOrEqual(MAX_PACKED_BYTES);
    expect(mainPack.files.filter(f => f.path.startsWith('packages/') || f.path.endsWith('.bin'))).toEqual([]);
  });

  test('it ships no source maps and no build output without a source', () => {
    const files = mainPack.files.map(f => f.path);
    expect(files.filter(f => f.endsWith('.map'))).toEqual([]);
    const orphans = files.filter(f => /^dist\/.*\.js$/.test(f) && !f.startsWith('dist/esm/') && !f.startsWith('dist/browser/'))
        .filter(f => !fs.existsSync(path.join(ROOT, 'src', f.slice('dist/'.length).replace(/\.js$/, '.ts'))));
    expect(orphans).toEqual([]);
  });
});

describe('the README in a project that installed the tarballs', () => {
  const project = () => path.join(scratch, 'your-project');

  test('the install built and approved the native core', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(project(), 'package.json'), 'utf8'));
    // npm records a tarball dependency's approval under its spec (file:…/tfjs-better-transformer-0.1.0.tgz).
    expect(Object.keys(pkg.allowScripts ?? {}).filter(k => k.includes('tfjs-better-transformer-0.1.0.tgz'))).toHaveLength(1);
    const {stdout} = run(process.execPath, ['-e', "console.log(require('tfjs-better-transformer').nativeCoreFailure())"], project());
    expect(stdout.trim()).toBe('null');
  });

  const blocks = codeBlocks('js', README);
  test('the README has its examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  /** What each example's comments promise, recognised by what the example calls. */
  const promises: Array<[RegExp, (stdout: string) => void]> = [
    [/BetterTransformer\.transform\(model\)/, out => {
      expect(out).toContain("'encoderStack of 2 layers'");
      expect(out).toContain('[ 2, 6, 32 ]');
    }],
    [/BetterTransformer\.generator\(model\)/, out => {
      expect(out).toContain('cached');
      expect(out).toContain('[ 20, 20 ]');
      expect(out.trim().split('\n').pop()?.trim().split(' ')).toHaveLength(20);
    }],
    [/loadDefaultEmbedder\(\)/, out => expect(out.trim()).toMatch(/^0\.8\d$/)],
  ];

  test.each(blocks.map((code, i) => [i + 1, code]))('example %i runs verbatim, cleanly, and prints what it says', (i, code) => {
    const file = path.join(project(), `readme_example_${i}.cjs`);
    fs.writeFileSync(file, code as string);
    const {stdout, stderr} = run(process.execPath, [file], project());
    expect(stderr).toBe('');
    const promise = promises.find(([pattern]) => pattern.test(code as string));
    if (promise) promise[1](stdout);
  });
});
