/** `convert <model_dir> <out_dir>`: transform a converted graph model and write it out. */
import {loadGraphModelSync} from '@tensorflow/tfjs-converter';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {BetterTransformer} from '../transform/better_transformer';
import {graphModelArtifacts} from '../transform/graph_model_transform';
import {formatReport} from './inspect_command';
import {readModelArtifacts, writeModelArtifacts} from '../io/model_files';
import {prepareBackend} from './backend';

export async function convertCommand(model: string, out: string, opts: {attentionOnly?: boolean}): Promise<void> {
  await prepareBackend();
  const artifacts = readModelArtifacts(model);
  if (!Array.isArray((artifacts.modelTopology as {node?: unknown} | undefined)?.node)) {
    throw new Error('convert works on graph models; layers models are transformed in memory with BetterTransformer.transform');
  }
  const graph = loadGraphModelSync(artifacts) as unknown as GraphModel;
  const transformed = BetterTransformer.transform(graph, {fuseEncoderLayers: !opts.attentionOnly});
  const report = BetterTransformer.report(transformed);
  const rewritten = graphModelArtifacts(transformed);
  if (!report || report.fused.length === 0 || !rewritten) {
    throw new Error(`nothing to fuse: ${report?.skipped[0]?.reason ?? 'no attention blocks found'}`);
  }
  writeModelArtifacts(out, rewritten, 'tfjs-better-transformer');
  process.stdout.write(`${formatReport(report)}\nwrote ${out}/model.json\n` +
      'Load it with tf.loadGraphModel after require(\'tfjs-better-transformer\') (which registers the fused ops).\n');
}
