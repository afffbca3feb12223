import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

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

  /** A float32 (or int64) input; string dimensions are symbolic (e.g. "batch"). */
  input(name: string, dims: (number | string)[], type: 'float32' | 'int64' = 'float32'): string {
    this.inputs.push(valueInfo(name, dims, type === 'int64' ? INT64 : FLOAT));
    return name;
  }

  /** A float32 scalar constant, for the arithmetic inside a graph. */
  scalar(value: number): string {
    return this.constant(`scalar_${this.counter++}`, [], Float32Array.of(value));
  }

  /** An int64 constant (shapes, split sizes, axes). */
  ints(values: number[]): string {
    const name = `ints_${this.counter++}`;
    this.initializers.push(onnx.TensorProto.create({ name, dataType: INT64, dims: [values.length], int64Data: values }));
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

  /** Adds one node and returns the name of its output. Attributes: integers, integer lists, or `{ float: x }`. */
  op(opType: string, inputs: string[], attributes: Record<string, number | number[] | { float: number }> = {}): string {
    const output = `${opType.toLowerCase()}_${this.counter++}`;
    const { AttributeType } = onnx.AttributeProto;
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: inputs,
        output: [output],
        attribute: Object.entries(attributes).map(([name, value]) =>
          Array.isArray(value)
            ? onnx.AttributeProto.create({ name, ints: value, type: AttributeType.INTS })
            : typeof value === 'number'
              ? onnx.AttributeProto.create({ name, i: value, type: AttributeType.INT })
              : onnx.AttributeProto.create({ name, f: value.float, type: AttributeType.FLOAT }),
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

function valueInfo(name: string, dims: (number | string)[], elemType: number = FLOAT): onnxProto.onnx.IValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
}
