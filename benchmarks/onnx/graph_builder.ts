/**
 * A minimal ONNX graph builder over onnx-proto, enough to express the
 * attention and encoder graphs that onnxruntime-node runs in the benchmarks.
 */
import {onnx} from 'onnx-proto';

export type Attr = {f: number} | {i: number} | {ints: number[]};
export const f = (value: number): Attr => ({f: value});
export const i = (value: number): Attr => ({i: value});
export const ints = (values: number[]): Attr => ({ints: values});

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

export class OnnxGraph {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly initializers: onnx.ITensorProto[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private counter = 0;

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  private static valueInfo(name: string, elemType: number, dims: Array<number | string>): onnx.IValueInfoProto {
    return {
      name,
      type: {tensorType: {elemType, shape: {dim: dims.map(d => typeof d === 'number' ? {dimValue: d} : {dimParam: d})}}},
    };
  }

  input(name: string, dims: Array<number | string>, elemType: number = FLOAT): string {
    this.inputs.push(OnnxGraph.valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, dims: Array<number | string>, elemType: number = FLOAT): void {
    this.outputs.push(OnnxGraph.valueInfo(name, elemType, dims));
  }

  floatConstant(data: Float32Array, dims: number[]): string {
    const name = this.fresh('w');
    this.initializers.push({
      name, dataType: FLOAT, dims,
      rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
    });
    return name;
  }

  int64Constant(values: number[], dims: number[] = [values.length]): string {
    const name = this.fresh('c');
    this.initializers.push({name, dataType: INT64, dims, int64Data: values});
    return name;
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outputName?: string, domain = ''): string {
    return this.opMulti(opType, inputs, 1, attrs, outputName ? [outputName] : undefined, domain)[0];
  }

  opMulti(opType: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}, names?: string[],
          domain = ''): string[] {
    const out = names ?? Array.from({length: outputs}, () => this.fresh(opType.toLowerCase()));
    const attribute: onnx.IAttributeProto[] = Object.entries(attrs).map(([name, a]) => {
      if ('f' in a) return {name, type: onnx.AttributeProto.AttributeType.FLOAT, f: a.f};
      if ('i' in a) return {name, type: onnx.AttributeProto.AttributeType.INT, i: a.i};
      return {name, type: onnx.AttributeProto.AttributeType.INTS, ints: a.ints};
    });
    this.nodes.push({opType, input: inputs, output: out, attribute, domain, name: this.fresh(opType)});
    return out;
  }

  encode(name: string, opset = 17): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'tfjs-better-transformer-benchmarks',
      opsetImport: [{domain: '', version: opset}],
      graph: {name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs},
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
