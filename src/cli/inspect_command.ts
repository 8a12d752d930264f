/** `inspect <model.json> [--json]`: the report the pass would give, from the topology alone. */
import {inspectModelJson} from '../transform/inspect';
import {TransformReport} from '../transform/report';
import {readModelJson} from '../io/model_files';

export function formatReport(report: TransformReport): string {
  const lines = [`architecture: ${report.architecture ?? 'no transformer blocks found'}`];
  const fusedLayers = report.fused.reduce((n, b) => n + b.layers, 0);
  lines.push(`fused: ${report.fused.length} block(s) covering ${fusedLayers} layer(s)`);
  for (const block of report.fused) {
    lines.push(`  ${block.kind} (${block.layers} layer${block.layers === 1 ? '' : 's'}): ${block.nodes.length} nodes, from ${block.nodes[0] ?? '?'}`);
  }
  lines.push(`left alone: ${report.skipped.length}`);
  for (const s of report.skipped) lines.push(`  ${s.nodes[0] ?? '(model)'}: ${s.reason}`);
  return lines.join('\n');
}

export function inspectCommand(model: string, opts: {json?: boolean}): void {
  const report = inspectModelJson(readModelJson(model) as {format?: string; modelTopology?: unknown});
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
}
