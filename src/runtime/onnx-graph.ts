import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/**
 * A small ONNX graph builder: models are written in TypeScript, encoded to bytes and handed to
 * onnxruntime without a Python exporter. Weights may be graph inputs (a candidate swaps tensors,
 * not sessions) or initializers (constant: onnxruntime can pre-pack them).
 */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private counter = 0;

  /** A float32 input; string dimensions are symbolic (e.g. "batch"). */
  input(name: string, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** A constant float32 tensor baked into the model. */
  constant(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push(
      onnx.TensorProto.create({ name, dataType: FLOAT, dims, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }),
    );
    return name;
  }

  /** A weight: a graph input when `asInput`, else an initializer. */
  weight(name: string, dims: number[], data: Float32Array, asInput: boolean): string {
    return asInput ? this.input(name, dims) : this.constant(name, dims, data);
  }

  /** Adds one node and returns the name of its (first) output. */
  op(opType: string, inputs: string[], attributes: Record<string, number | number[]> = {}): string {
    const output = `${opType.toLowerCase()}_${this.counter++}`;
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: inputs,
        output: [output],
        attribute: Object.entries(attributes).map(([name, value]) =>
          Array.isArray(value)
            ? onnx.AttributeProto.create({ name, ints: value, type: onnx.AttributeProto.AttributeType.INTS })
            : Number.isInteger(value)
              ? onnx.AttributeProto.create({ name, i: value, type: onnx.AttributeProto.AttributeType.INT })
              : onnx.AttributeProto.create({ name, f: value, type: onnx.AttributeProto.AttributeType.FLOAT }),
        ),
      }),
    );
    return output;
  }

  /** Marks `name` as a graph output under `as` (an Identity node renames it). */
  output(name: string, as: string, dims: (number | string)[]): void {
    this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [name], output: [as] }));
    this.outputs.push(valueInfo(as, dims));
  }

  encode(): Uint8Array {
    const graph = onnx.GraphProto.create({ name: 'evosearch', node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.initializers });
    return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, producerName: 'evosearch', opsetImport: [{ domain: '', version: 17 }], graph })).finish();
  }
}

function valueInfo(name: string, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}
