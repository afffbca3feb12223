import onnxProto from 'onnx-proto';
import { ort } from './onnx.js';

const { onnx } = onnxProto;
const DOUBLE = onnx.TensorProto.DataType.DOUBLE;

/** A dense row-major float64 matrix (the shape of compress's Matrix). */
export interface Dense {
  rows: number;
  cols: number;
  data: Float64Array;
}

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** Added after the product, times `beta`. */
  c?: Dense;
  beta?: number;
}

/**
 * Float64 matrix products on onnxruntime's Gemm, whose CPU kernel is a vectorised, blocked DGEMM:
 * about 20–28 GFLOP/s per core on this machine against 0.75 for the best plain JavaScript loop. One
 * session per kind of product (transposes, scalars, with or without C), with symbolic sizes.
 */
export class Gemm {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  /**
   * `threads`: onnxruntime's own threads for each product. A level-database build runs one Gemm
   * of one thread per worker: products whose bits do not depend on the core count, and no
   * threads woken for the many small ones (2 threads made the reference LM's build 1.5× as long).
   */
  constructor(readonly threads = 1) {}

  /** alpha·op(A)·op(B) + beta·C, op a transpose where asked. */
  async run(a: Dense, b: Dense, opts: GemmOptions = {}): Promise<Dense> {
    const { transA = false, transB = false, alpha = 1, c, beta = 1 } = opts;
    const [m, k] = transA ? [a.cols, a.rows] : [a.rows, a.cols];
    const [k2, n] = transB ? [b.cols, b.rows] : [b.rows, b.cols];
    if (k !== k2 || (c && (c.rows !== m || c.cols !== n))) throw new Error(`bug: gemm shapes ${a.rows}×${a.cols}, ${b.rows}×${b.cols}${c ? `, ${c.rows}×${c.cols}` : ''} do not fit`);
    if (m === 0 || n === 0) return { rows: m, cols: n, data: new Float64Array(0) };
    if (k === 0) return { rows: m, cols: n, data: c ? c.data.map((x) => beta * x) : new Float64Array(m * n) };
    const session = await this.session(transA, transB, alpha, c ? beta : null);
    const feeds: Record<string, ort.Tensor> = { a: tensor(a), b: tensor(b) };
    if (c) feeds.c = tensor(c);
    const out = (await session.run(feeds)).y;
    return { rows: m, cols: n, data: out.data as Float64Array };
  }

  async close(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of sessions) await (await s).release();
  }

  private session(transA: boolean, transB: boolean, alpha: number, beta: number | null): Promise<ort.InferenceSession> {
    const key = `${transA}|${transB}|${alpha}|${beta}`;
    let session = this.sessions.get(key);
    if (!session) {
      // Threads that spin between products would take a core from the JavaScript between them.
      session = ort.InferenceSession.create(gemmGraph(transA, transB, alpha, beta), { intraOpNumThreads: this.threads, interOpNumThreads: 1, logSeverityLevel: 4, extra: { session: { intra_op: { allow_spinning: '0' } } } });
      this.sessions.set(key, session);
    }
    return session;
  }
}

const tensor = (m: Dense) => new ort.Tensor('float64', m.data.length === m.rows * m.cols ? m.data : m.data.subarray(0, m.rows * m.cols), [m.rows, m.cols]);

function gemmGraph(transA: boolean, transB: boolean, alpha: number, beta: number | null): Uint8Array {
  const info = (name: string, dims: string[]) => onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType: DOUBLE, shape: { dim: dims.map((d) => ({ dimParam: d })) } } } });
  const { AttributeType } = onnx.AttributeProto;
  const node = onnx.NodeProto.create({
    opType: 'Gemm',
    input: beta === null ? ['a', 'b'] : ['a', 'b', 'c'],
    output: ['y'],
    attribute: [
      onnx.AttributeProto.create({ name: 'transA', i: transA ? 1 : 0, type: AttributeType.INT }),
      onnx.AttributeProto.create({ name: 'transB', i: transB ? 1 : 0, type: AttributeType.INT }),
      onnx.AttributeProto.create({ name: 'alpha', f: alpha, type: AttributeType.FLOAT }),
      onnx.AttributeProto.create({ name: 'beta', f: beta ?? 1, type: AttributeType.FLOAT }),
    ],
  });
  const inputs = [info('a', transA ? ['k', 'm'] : ['m', 'k']), info('b', transB ? ['n', 'k'] : ['k', 'n'])];
  if (beta !== null) inputs.push(info('c', ['m', 'n']));
  const graph = onnx.GraphProto.create({ name: 'gemm', node: [node], input: inputs, output: [info('y', ['m', 'n'])] });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, producerName: 'evosearch', opsetImport: [{ domain: '', version: 17 }], graph })).finish();
}
