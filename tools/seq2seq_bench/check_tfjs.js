// Runs a converted graph model in tfjs-node on the int32 inputs make_models.py wrote (every key of the JSON
// is a model input) and writes the named output as raw float32 (little-endian) for it to compare.
//   node tools/seq2seq_bench/check_tfjs.js <tfjs dir> <inputs.json> <output name> <out.bin>
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-node');

async function main() {
  const [modelDir, inputsPath, outputName, outPath] = process.argv.slice(2);
  const model = await tf.loadGraphModel(tf.io.fileSystem(path.join(modelDir, 'model.json')));
  const inputs = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
  const feeds = {};
  for (const [name, rows] of Object.entries(inputs)) feeds[name] = tf.tensor2d(rows, undefined, 'int32');
  const out = model.execute(feeds, outputName);
  const values = await out.data();
  fs.writeFileSync(outPath, Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  process.stdout.write(JSON.stringify({shape: out.shape, inputs: model.inputs.map(i => i.name),
                                       outputs: model.outputs.map(o => o.name)}) + '\n');
}

main().catch(e => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
