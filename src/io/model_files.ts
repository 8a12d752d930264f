/**
 * Reading and writing converted models on disk without tfjs-node: model.json
 * plus its weight shards, checked against the weights manifest so a damaged
 * model is reported in one line instead of failing somewhere inside tfjs.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {ModelFileError, specBytes, weightSpecsByteLength} from './weight_specs';

export {ModelFileError, weightSpecsByteLength};

export function modelJsonPath(location: string): string {
  const p = fs.existsSync(location) && fs.statSync(location).isDirectory() ? path.join(location, 'model.json') : location;
  if (!fs.existsSync(p)) throw new ModelFileError(`no model at ${p}`);
  return p;
}

export function readModelJson(location: string): tf.io.ModelJSON {
  const p = modelJsonPath(location);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(p, 'utf8'));
  } catch (e) {
    throw new ModelFileError(`${p} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || !('modelTopology' in json)) {
    throw new ModelFileError(`${p} is not a tfjs model.json (no modelTopology)`);
  }
  return json as tf.io.ModelJSON;
}

export function readModelArtifacts(location: string): tf.io.ModelArtifacts {
  const p = modelJsonPath(location);
  const json = readModelJson(p);
  const dir = path.dirname(p);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest ?? []) {
    let groupBytes = 0;
    for (const file of group.paths) {
      const shard = path.join(dir, file);
      if (!fs.existsSync(shard)) throw new ModelFileError(`weight shard ${shard} listed in the manifest is missing`);
      const data = fs.readFileSync(shard);
      groupBytes += data.byteLength;
      buffers.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    const expected = group.weights.reduce((n, s) => n + specBytes(s), 0);
    if (expected !== groupBytes) {
      throw new ModelFileError(`weights do not match the manifest: ${group.paths.join(', ')} hold ${groupBytes} bytes, the manifest describes ${expected}`);
    }
    specs.push(...group.weights);
  }
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    weightData.set(b, offset);
    offset += b.byteLength;
  }
  return {
    modelTopology: json.modelTopology, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy,
    signature: json.signature, userDefinedMetadata: json.userDefinedMetadata, modelInitializer: json.modelInitializer,
    weightSpecs: specs, weightData: weightData.buffer, trainingConfig: json.trainingConfig,
  };
}

/** Writes model.json and one weight shard (`group1-shard1of1.bin`). */
export function writeModelArtifacts(dir: string, artifacts: tf.io.ModelArtifacts, note: string): void {
  fs.mkdirSync(dir, {recursive: true});
  const data = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const shard = 'group1-shard1of1.bin';
  fs.writeFileSync(path.join(dir, shard), Buffer.from(data));
  const json: Record<string, unknown> = {
    format: artifacts.format, generatedBy: artifacts.generatedBy, convertedBy: note,
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{paths: [shard], weights: artifacts.weightSpecs ?? []}],
  };
  if (artifacts.signature) json['signature'] = artifacts.signature;
  if (artifacts.userDefinedMetadata) json['userDefinedMetadata'] = artifacts.userDefinedMetadata;
  if (artifacts.modelInitializer) json['modelInitializer'] = artifacts.modelInitializer;
  if (artifacts.trainingConfig) json['trainingConfig'] = artifacts.trainingConfig;
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
}
