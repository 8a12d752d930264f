#!/usr/bin/env node
/**
 * tfjs-better-transformer CLI: inspect, convert and bench converted models, and
 * generate tokens with converted decoder-only models.
 * Every failure is one line on stderr and a non-zero exit code.
 */
// First: sets TF_CPP_MIN_LOG_LEVEL before anything can load tfjs-node's libtensorflow.
import './quiet_tensorflow_logs';
import {Command, CommanderError, Option} from 'commander';
import {GPU_PRECISION_CHOICES, GPU_PRECISION_HELP} from './backend';
import {benchCommand} from './bench_command';
import {convertCommand} from './convert_command';
import {registerGenerateCommand} from './generate_command';
import {inspectCommand} from './inspect_command';
import {packageVersion} from './package_version';
import {consumeCpuBackendBanner} from './quiet_cpu_banner';

function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`tfjs-better-transformer: ${message.split('\n')[0]}\n`);
  process.exit(1);
}

export async function main(argv: string[]): Promise<void> {
  consumeCpuBackendBanner();
  const program = new Command('tfjs-better-transformer')
      .description('Fused attention and encoder kernels for TensorFlow.js models')
      .version(packageVersion(), '-V, --version', 'print the package version')
      .exitOverride()
      .configureOutput({writeErr: text => process.stderr.write(text.split('\n')[0] + '\n')});
  program.command('inspect <model.json>')
      .description('what transform would fuse in a model, and why anything is left alone (weights are read when they are next to ' +
          'model.json, else the plan is made from the topology and marks what it could not check)')
      .option('--json', 'print the report as JSON')
      .option('--no-weights', 'plan from model.json alone even when the weight files are there (faster on large models)')
      .action(async (model: string, opts: {json?: boolean; weights?: boolean}) => inspectCommand(model, opts));
  program.command('convert <model_dir> <out_dir>')
      .description('write the transformed model (load it with the package imported)')
      .option('--attention-only', 'fuse attention cores only, not whole encoder layers')
      .action(async (model: string, out: string, opts: {attentionOnly?: boolean}) => convertCommand(model, out, opts));
  program.command('bench <model_dir>')
      .description('latency and parity of the original and the transformed model on random inputs')
      .option('--batch <n>', 'batch size (default 8, or the batch the model\'s inputs fix)')
      .option('--seq <s>', 'sequence length of text models (default 128, or the positions the model takes when fewer)')
      .option('--padding <p>', 'fraction of padded tokens, spread over the batch (0..0.9)', '0')
      .option('--runs <n>', 'timed runs per model', '10')
      .option('--backend <name>', "tfjs backend: 'cpu' or 'tensorflow' (tfjs-node or tfjs-node-gpu; the default when one is installed)")
      .addOption(new Option('--gpu-precision <precision>', GPU_PRECISION_HELP).choices(GPU_PRECISION_CHOICES))
      .option('--json <file>', 'write the results as JSON')
      .action(async (model: string, opts: Record<string, string>) => benchCommand(model, opts));
  registerGenerateCommand(program);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
    fail(e);
  }
}

if (require.main === module) {
  main(process.argv).catch(fail);
}
