/**
 * IR → ONNX (`ai.onnx`, opset 20: `Gelu` with `approximate="tanh"`). One IR node lowers to one or a few standard ops; every node's
 * value is named `v<index>` in topological order. Inputs named in `bound` (the weights) become
 * either initializers whose bytes live outside the model (`weights: "external"`, the default: the
 * runtime reads them from host buffers handed over as in-memory external data, and constant MatMul
 * operands can be pre-packed by the CPU kernels) or graph inputs fed the same host buffers on every
 * run (`weights: "inputs"`). `transpose(weight)` is hoisted out of the graph and bound
 * pre-transposed, since a frozen weight's transpose is the same every step.
 */
import { type HostTensor, IR } from "@spot/core/graph"
import { Result } from "effect"
import onnxProto from "onnx-proto"

const { onnx } = onnxProto
type INode = onnxProto.onnx.INodeProto
type ITensor = onnxProto.onnx.ITensorProto
type IValueInfo = onnxProto.onnx.IValueInfoProto
type Node = IR.Node

export const OPSET = 20
const FLOAT = onnx.TensorProto.DataType.FLOAT
const INT32 = onnx.TensorProto.DataType.INT32
const INT64 = onnx.TensorProto.DataType.INT64
const BOOL = onnx.TensorProto.DataType.BOOL

export interface CompiledModel {
  /** Serialized ModelProto. */
  readonly bytes: Uint8Array
  /** Graph inputs to feed on every run: name in the ONNX graph → IR input name. */
  readonly feeds: ReadonlyMap<string, string>
  /**
   * Bound weights: ONNX name → weight name, whether it is bound transposed, and (for external
   * initializers) the external-data path the runtime expects its bytes under.
   */
  readonly weights: ReadonlyMap<string, BoundWeight>
  /** ONNX output name → IR output name and dtype. */
  readonly outputs: ReadonlyArray<{
    readonly onnx: string
    readonly name: string
    readonly dtype: IR.IRType
    readonly shape: readonly number[]
  }>
  /** Number of ONNX nodes (for reports). */
  readonly nodeCount: number
}

export interface BoundWeight {
  readonly name: string
  readonly transposed: boolean
  readonly path?: string
}

/** How weights enter the model: external-data initializers (default) or per-run graph inputs. */
export type WeightMode = "external" | "inputs"

const onnxType = (t: IR.IRType) => (t === "f32" ? FLOAT : INT32)

const valueInfo = (name: string, dtype: number, shape: readonly number[]): IValueInfo => ({
  name,
  type: { tensorType: { elemType: dtype, shape: { dim: shape.map((d) => ({ dimValue: d })) } } },
})

const i64Tensor = (name: string, values: readonly number[], dims: readonly number[] = [values.length]): ITensor => ({
  name,
  dataType: INT64,
  dims: [...dims],
  rawData: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer),
})

const hostTensor = (name: string, t: HostTensor<"f32" | "i32">): ITensor => ({
  name,
  dataType: t.dtype === "f32" ? FLOAT : INT32,
  dims: [...t.shape],
  rawData: new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)),
})

const intAttr = (name: string, i: number): onnxProto.onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INT,
  i,
})
const intsAttr = (name: string, ints: readonly number[]): onnxProto.onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints: [...ints],
})
const strAttr = (name: string, s: string): onnxProto.onnx.IAttributeProto => ({
  name,
  type: onnx.AttributeProto.AttributeType.STRING,
  s: new TextEncoder().encode(s),
})

/** The ONNX graph under construction: its nodes, initializers and inputs, and where each feed and weight goes. */
const makeBuilder = (mode: WeightMode) => {
  const nodes: INode[] = []
  const inits: ITensor[] = []
  const inputs: IValueInfo[] = []
  const feeds = new Map<string, string>()
  const weights = new Map<string, BoundWeight>()
  const seenInputs = new Map<string, string>()
  let counter = 0
  const fresh = (p: string) => `${p}${counter++}`
  const constI64 = (values: readonly number[]) => {
    const n = fresh("c")
    inits.push(i64Tensor(n, values))
    return n
  }
  const emit = (opType: string, ins: string[], attrs: onnxProto.onnx.IAttributeProto[] = [], out = fresh("t")) => {
    nodes.push({ opType, input: ins, output: [out], attribute: attrs, name: fresh(`${opType}_`) })
    return out
  }
  /** A bound weight (once per name and orientation): a graph input, or an external-data initializer. */
  const boundInput = (name: string, transposed: boolean, shape: readonly number[]) => {
    const key = `${transposed ? "T:" : ""}${name}`
    const existing = seenInputs.get(key)
    if (existing) return existing
    const onnxName = fresh(transposed ? "wT" : "w")
    seenInputs.set(key, onnxName)
    if (mode === "inputs") {
      inputs.push(valueInfo(onnxName, FLOAT, shape))
      weights.set(onnxName, { name, transposed })
      return onnxName
    }
    const path = `${onnxName}.bin`
    const bytes = 4 * shape.reduce((a, b) => a * b, 1)
    inits.push({
      name: onnxName,
      dataType: FLOAT,
      dims: [...shape],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: "location", value: path },
        { key: "offset", value: "0" },
        { key: "length", value: String(bytes) },
      ],
    })
    weights.set(onnxName, { name, transposed, path })
    return onnxName
  }
  return { nodes, inits, inputs, feeds, weights, seenInputs, fresh, constI64, emit, boundInput }
}
type Builder = ReturnType<typeof makeBuilder>

/** An input: a bound weight, or a graph input fed on every run (one per name). */
const lowerInput = (b: Builder, n: Node, name: string, bound: ReadonlySet<string>) => {
  if (bound.has(name)) return b.boundInput(name, false, n.shape)
  const prev = b.seenInputs.get(name)
  if (prev) return prev
  const out = b.fresh("in")
  b.seenInputs.set(name, out)
  b.inputs.push(valueInfo(out, onnxType(n.dtype), n.shape))
  b.feeds.set(out, name)
  return out
}

const lowerFill = (b: Builder, shape: readonly number[], value: number) => {
  const s = b.fresh("k")
  b.inits.push({ name: s, dataType: FLOAT, dims: [], floatData: [value] })
  return shape.length === 0 ? s : b.emit("Expand", [s, b.constI64(shape)])
}

/** `transpose(weight)` of a 2-D bound weight is hoisted: the weight is fed pre-transposed. */
const lowerTranspose = (b: Builder, n: Node, x: string[], perm: readonly number[], bound: ReadonlySet<string>) => {
  const src = n.inputs[0]
  if (src.op.kind === "input" && bound.has(src.op.name) && perm.length === 2 && perm[0] === 1)
    return b.boundInput(src.op.name, true, n.shape)
  return b.emit("Transpose", x, [intsAttr("perm", perm)])
}

const lowerScatterAdd = (b: Builder, n: Node, x: string[]) => {
  const ids = n.inputs[0]
  const zeros = b.fresh("k")
  b.inits.push({ name: zeros, dataType: FLOAT, dims: [], floatData: [0] })
  const data = b.emit("Expand", [zeros, b.constI64(n.shape)])
  const idx = b.emit("Reshape", [b.emit("Cast", [x[0]], [intAttr("to", INT64)]), b.constI64([...ids.shape, 1])])
  return b.emit("ScatterND", [data, idx, x[1]], [strAttr("reduction", "add")])
}

const lowerOneHot = (b: Builder, x: string[], depth: number) => {
  const range = b.fresh("k")
  b.inits.push({ name: range, dataType: INT32, dims: [depth], int32Data: Array.from({ length: depth }, (_, i) => i) })
  const col = b.emit("Unsqueeze", [x[0], b.constI64([-1])])
  return b.emit("Cast", [b.emit("Equal", [col, range])], [intAttr("to", FLOAT)])
}

const constF32 = (b: Builder, value: number) => {
  const k = b.fresh("k")
  b.inits.push({ name: k, dataType: FLOAT, dims: [], floatData: [value] })
  return k
}

/**
 * d gelu / dx in 12 elementwise ops (no standard or CPU contrib op computes it): with σ = sigmoid(v),
 * v = 2c (x + a x³) and w = x v′, gelu′ = σ (1 + w (1 − σ)).
 */
const lowerGeluDeriv = (b: Builder, x: string) => {
  const { emit } = b
  const x2 = emit("Mul", [x, x])
  const poly = (k2: number, k0: number) => emit("Mul", [x, emit("Add", [emit("Mul", [x2, constF32(b, k2)]), constF32(b, k0)])])
  const c2 = 2 * IR.GELU_C
  const s = emit("Sigmoid", [poly(c2 * IR.GELU_A, c2)])
  const w = poly(3 * c2 * IR.GELU_A, c2)
  return emit("Mul", [s, emit("Add", [emit("Mul", [w, emit("Sub", [constF32(b, 1), s])]), constF32(b, 1)])])
}

/** A sum or max over `axes` (none: the identity). */
const lowerReduce = (b: Builder, x: string[], kind: "sum" | "max", axes: readonly number[], keepDims: boolean) => {
  if (axes.length === 0) return b.emit("Identity", x)
  return b.emit(kind === "sum" ? "ReduceSum" : "ReduceMax", [x[0], b.constI64(axes)], [intAttr("keepdims", keepDims ? 1 : 0)])
}

/** The graph's outputs (an Identity each) and the serialized model. */
const assemble = (b: Builder, graph: IR.Graph, names: ReadonlyMap<Node, string>): CompiledModel => {
  const outputs: CompiledModel["outputs"][number][] = []
  const outputInfos: IValueInfo[] = []
  for (const [name, node] of Object.entries(graph.outputs)) {
    const o = b.emit("Identity", [names.get(node) as string], [], b.fresh("out"))
    outputs.push({ onnx: o, name, dtype: node.dtype, shape: node.shape })
    outputInfos.push(valueInfo(o, onnxType(node.dtype), node.shape))
  }
  const model: onnxProto.onnx.IModelProto = {
    irVersion: 8,
    producerName: "spot-ts",
    opsetImport: [{ domain: "", version: OPSET }],
    graph: { name: "spot", node: b.nodes, initializer: b.inits, input: b.inputs, output: outputInfos },
  }
  return {
    bytes: onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish(),
    feeds: b.feeds,
    weights: b.weights,
    outputs,
    nodeCount: b.nodes.length,
  }
}

/** Lowers a checked graph. Fails (naming the op) only for constructs ONNX cannot express. */
export const compileToOnnx = (
  graph: IR.Graph,
  topo: readonly Node[],
  bound: ReadonlySet<string>,
  mode: WeightMode = "external",
): Result.Result<CompiledModel, { op: string; message: string }> => {
  const b = makeBuilder(mode)
  const { emit, constI64, fresh, inits } = b
  const names = new Map<Node, string>()
  for (const n of topo) {
    const x = n.inputs.map((i) => names.get(i) as string)
    const op = n.op
    let out: string
    switch (op.kind) {
      case "input":
        out = lowerInput(b, n, op.name, bound)
        break
      case "constant":
        out = fresh("k")
        inits.push(hostTensor(out, op.value))
        break
      case "fill":
        out = lowerFill(b, n.shape, op.value)
        break
      case "neg":
        out = emit("Neg", x)
        break
      case "exp":
        out = emit("Exp", x)
        break
      case "log":
        out = emit("Log", x)
        break
      case "tanh":
        out = emit("Tanh", x)
        break
      case "sqrt":
        out = emit("Sqrt", x)
        break
      case "rsqrt":
        out = emit("Reciprocal", [emit("Sqrt", x)])
        break
      case "recip":
        out = emit("Reciprocal", x)
        break
      case "relu":
        out = emit("Relu", x)
        break
      case "gelu":
        out = emit("Gelu", x, [strAttr("approximate", "tanh")])
        break
      case "geluDeriv":
        out = lowerGeluDeriv(b, x[0])
        break
      case "add":
        out = emit("Add", x)
        break
      case "sub":
        out = emit("Sub", x)
        break
      case "mul":
        out = emit("Mul", x)
        break
      case "div":
        out = emit("Div", x)
        break
      case "gt":
      case "eq":
        out = emit("Cast", [emit(op.kind === "gt" ? "Greater" : "Equal", x)], [intAttr("to", FLOAT)])
        break
      case "where":
        out = emit("Where", [emit("Cast", [x[0]], [intAttr("to", BOOL)]), x[1], x[2]])
        break
      case "matmul":
        out = emit("MatMul", x)
        break
      case "sum":
      case "max":
        out = lowerReduce(b, x, op.kind, op.axes, op.keepDims)
        break
      case "softmax":
        out = emit("Softmax", x, [intAttr("axis", op.axis)])
        break
      case "logSoftmax":
        out = emit("LogSoftmax", x, [intAttr("axis", op.axis)])
        break
      case "reshape":
        out = emit("Reshape", [x[0], constI64(op.shape)])
        break
      case "transpose":
        out = lowerTranspose(b, n, x, op.perm, bound)
        break
      case "slice":
        out = emit("Slice", [x[0], constI64(op.starts), constI64(op.ends), constI64(op.starts.map((_, i) => i))])
        break
      case "pad":
        out = emit("Pad", [x[0], constI64([...op.before, ...op.after])], [strAttr("mode", "constant")])
        break
      case "concat":
        out = emit("Concat", x, [intAttr("axis", op.axis)])
        break
      case "broadcast":
        out = emit("Expand", [x[0], constI64(op.shape)])
        break
      case "gather":
        out = emit("Gather", x, [intAttr("axis", 0)])
        break
      case "scatterAdd":
        out = lowerScatterAdd(b, n, x)
        break
      case "oneHot":
        out = lowerOneHot(b, x, op.depth)
        break
      case "cast":
        out = emit("Cast", x, [intAttr("to", onnxType(op.to))])
        break
      default: {
        const never: never = op
        return Result.fail({ op: String((never as { kind: string }).kind), message: "no ONNX lowering" })
      }
    }
    names.set(n, out)
  }
  return Result.succeed(assemble(b, graph, names))
}
