// Runs a converted decoder graph model in tfjs-node on the inputs make_models.py wrote and writes the
// logits as raw float32 (little-endian) for it to compare with TF's.
//   node tools/decoder_bench/check_tfjs.js <tfjs dir> <inputs.json> <logits.bin>
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-node');

async function main() {
  const [modelDir, inputsPath, outPath] = process.argv.slice(2);
  const model = await tf.loadGraphModel(tf.io.fileSystem(path.join(modelDir, 'model.json')));
  const inputs = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
  const feeds = {
    input_ids: tf.tensor2d(inputs.input_ids, undefined, 'int32'),
    attention_mask: tf.tensor2d(inputs.attention_mask, undefined, 'int32'),
  };
  const logits = model.execute(feeds, 'logits');
  const values = await logits.data();
  fs.writeFileSync(outPath, Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  process.stdout.write(JSON.stringify({shape: logits.shape, inputs: model.inputs.map(i => i.name),
                                       outputs: model.outputs.map(o => o.name)}) + '\n');
}

main().catch(e => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
