// The language-model head fused with cross-entropy, in bounded memory: logits = hidden @ head^T are computed one
// vocabulary chunk at a time and reduced at once to a log-sum-exp per token, so no [tokens, vocab] tensor exists for
// the whole vocabulary, in the forward pass or the backward pass (which recomputes each chunk's logits instead of
// keeping them).
//
//   hidden [N, D], head [V, D] (HF layout), labels [N]
//   lse[n]    = log sum_v exp(hidden[n] . head[v])           (ChunkedLogSumExp, chunk by chunk)
//   target[n] = hidden[n] . head[labels[n]]                   (a gather of N rows, composite)
//   nll[n]    = (lse[n] - target[n]) * keep[n]
//
// Gradient of the log-sum-exp for upstream g [N]: with p = softmax(logits) (recomputed per chunk as
// exp(logits - lse)), dHidden = sum_chunks (p * g) @ head_chunk and dHead_chunk = (p * g)^T @ hidden. Both come from
// one recomputation, so the gradient op writes two ONNX values: dHidden (its own value) and dHead (read by a
// second, emission-free op).
//
// Chunks run one after another: every chunk's matrix product takes a zero-valued [1, 1] bias that depends on the
// previous chunk's result. That orders them for ONNX Runtime's scheduler (so only one chunk's logits are alive at a
// time) and keeps its common-subexpression pass from merging the backward recomputation with the forward products.
import { type OpDef, type Tensor, ShapeError } from "../graph.ts";
import type { Emitter } from "../emitter.ts";
import { shapeToString, type Dim } from "../dims.ts";
import { requireFloat, sameDType } from "./util.ts";
import { reshape, cast, squeeze } from "./shape.ts";
import { equal, not, where, mul, sub, maximum, div } from "./elementwise.ts";
import { reduceSum } from "./reduce.ts";
import { gather } from "./indexing.ts";
import { defineOp } from "./registry.ts";
import { crossEntropy, type CrossEntropyResult } from "./nn.ts";

interface ChunkAttrs {
  /** Chunk start rows of the head, ascending, first 0; the last chunk ends at V. */
  starts: number[];
}

function chunkBounds(attrs: ChunkAttrs, vocab: number): [number, number][] {
  return attrs.starts.map((s, i) => [s, attrs.starts[i + 1] ?? vocab]);
}

function vocabOf(head: Tensor): number {
  const v = head.shape[0];
  if (typeof v !== "number") throw new ShapeError(`ChunkedLogSumExp: the head's vocabulary axis must be static, got ${head}`);
  return v;
}

/** A [1, 1] zero that depends on `value` (any float tensor of rank 2): an ordering token. */
function orderToken(e: Emitter, value: string, dtype: Tensor["dtype"]): string {
  const corner = e.op("Slice", [value, e.int64s([0, 0]), e.int64s([1, 1]), e.int64s([0, 1])]);
  return e.op("Mul", [corner, e.scalar(0, dtype)]);
}

/** log-sum-exp over the last axis of x [N, C], kept as [N, 1]. */
function logSumExpRows(e: Emitter, x: string): string {
  const max = e.op("ReduceMax", [x, e.int64s([1])], { keepdims: 1 });
  const sum = e.op("ReduceSum", [e.op("Exp", [e.op("Sub", [x, max])]), e.int64s([1])], { keepdims: 1 });
  return e.op("Add", [e.op("Log", [sum]), max]);
}

function headChunk(e: Emitter, head: string, [a, b]: [number, number]): string {
  return e.op("Slice", [head, e.int64s([a]), e.int64s([b]), e.int64s([0])]);
}

/** lse [N] of hidden [N, D] @ head [V, D]^T, chunk by chunk. */
export const chunkedLogSumExpOp: OpDef<ChunkAttrs> = defineOp<ChunkAttrs>("rule", {
  type: "ChunkedLogSumExp",
  infer: ([h, w]) => {
    sameDType("ChunkedLogSumExp", h!, w!);
    requireFloat("ChunkedLogSumExp", h!);
    if (h!.rank !== 2 || w!.rank !== 2 || h!.shape[1] !== w!.shape[1]) {
      throw new ShapeError(`ChunkedLogSumExp: hidden ${shapeToString(h!.shape)} and head ${shapeToString(w!.shape)} must be [N, D] and [V, D]`);
    }
    return { dtype: h!.dtype, shape: [h!.shape[0]!] };
  },
  emit: (e, out) => {
    const [h, w] = out.inputs as [Tensor, Tensor];
    const parts: string[] = [];
    let token = e.op("Reshape", [e.scalar(0, h.dtype), e.int64s([1, 1])]);
    for (const bounds of chunkBounds(out.attrs, vocabOf(w))) {
      const logits = e.op("Gemm", [e.name(h), headChunk(e, e.name(w), bounds), token], { transB: 1 }); // [N, C]
      const lse = logSumExpRows(e, logits);
      parts.push(lse);
      token = orderToken(e, lse, h.dtype);
    }
    const all = parts.length === 1 ? parts[0]! : e.op("Concat", parts, { axis: 1 }); // [N, chunks]
    const lse = parts.length === 1 ? all : logSumExpRows(e, all);
    e.node("Reshape", [lse, e.int64s([-1])], [e.name(out)]);
  },
  grad: (out, g) => {
    const [h, w] = out.inputs as [Tensor, Tensor];
    const dh = h.graph.add(chunkedLogSumExpGradOp, [h, w, out, g], out.attrs);
    return [dh, h.graph.add(secondOutputOp, [dh], { shape: w.shape.slice() })];
  },
});

/** The name of the gradient op's second ONNX value (dHead). */
function headGradName(e: Emitter, dh: Tensor): string {
  return `${e.name(dh)}_dhead`;
}

/** dHidden [N, D] of the chunked log-sum-exp (its emission also writes dHead [V, D], see secondOutputOp). */
const chunkedLogSumExpGradOp: OpDef<ChunkAttrs> = defineOp<ChunkAttrs>("helper", {
  type: "ChunkedLogSumExpGrad",
  infer: ([h]) => ({ dtype: h!.dtype, shape: h!.shape.slice() }),
  emit: (e, out) => {
    const [h, w, lse, g] = out.inputs as [Tensor, Tensor, Tensor, Tensor];
    const hn = e.name(h);
    const negLse = e.op("Neg", [e.op("Reshape", [e.name(lse), e.int64s([-1, 1])])]); // [N, 1]
    const gcol = e.op("Reshape", [e.name(g), e.int64s([-1, 1])]); // [N, 1]
    const bounds = chunkBounds(out.attrs, vocabOf(w));
    let dh: string | undefined;
    const dheads: string[] = [];
    let bias = negLse;
    for (const [i, b] of bounds.entries()) {
      const wk = headChunk(e, e.name(w), b);
      const shifted = e.op("Gemm", [hn, wk, bias], { transB: 1 }); // logits - lse [N, C]
      const pg = e.op("Mul", [e.op("Exp", [shifted]), gcol]); // softmax * g
      const dhk = e.op("MatMul", [pg, wk]); // [N, D]
      const dwk = e.op("Gemm", [pg, hn], { transA: 1 }); // [C, D]
      dh = dh === undefined ? dhk : e.op("Add", [dh, dhk]);
      dheads.push(dwk);
      if (i + 1 < bounds.length) {
        const token = e.op("Add", [orderToken(e, dh, h.dtype), orderToken(e, dwk, h.dtype)]);
        bias = e.op("Add", [negLse, token]);
      }
    }
    e.node("Identity", [dh!], [e.name(out)]);
    e.node(dheads.length === 1 ? "Identity" : "Concat", dheads, [headGradName(e, out)], dheads.length === 1 ? {} : { axis: 0 });
  },
});

/** The second value written by the emission of its input (a multi-output op's other result). */
const secondOutputOp: OpDef<{ shape: Dim[] }> = defineOp<{ shape: Dim[] }>("helper", {
  type: "SecondOutput",
  infer: ([x], attrs) => ({ dtype: x!.dtype, shape: attrs.shape.slice() }),
  emit: (e, out) => void e.node("Identity", [headGradName(e, out.inputs[0]!)], [e.name(out)]),
});

/** Chunk start rows for a vocabulary of `vocab` in chunks of at most `chunk` rows. */
export function chunkStarts(vocab: number, chunk: number): number[] {
  if (!Number.isInteger(chunk) || chunk < 1) throw new ShapeError(`lm-head chunk must be a positive integer, got ${chunk}`);
  const n = Math.ceil(vocab / chunk);
  const size = Math.ceil(vocab / n); // equal chunks, the last one shorter
  return Array.from({ length: n }, (_, i) => i * size);
}

/** log-sum-exp of hidden [N, D] @ head [V, D]^T over the vocabulary, in chunks of at most `chunk` rows -> [N]. */
export function chunkedLogSumExp(hidden: Tensor, head: Tensor, chunk: number): Tensor {
  return hidden.graph.add(chunkedLogSumExpOp, [hidden, head], { starts: chunkStarts(vocabOf(head), chunk) });
}

export interface LmHeadLossOptions {
  /** Vocabulary rows per chunk; >= V means one chunk, i.e. the plain head + cross-entropy graph. */
  chunk: number;
  ignoreIndex?: number;
}

/**
 * Cross-entropy of hidden [..., D] through the head [V, D] against labels [...], the mean over positions whose label
 * is not `ignoreIndex` (the same result as crossEntropy(hidden @ head^T, labels)). With `chunk` < V the logits are
 * never materialised for the whole vocabulary; otherwise this is the plain graph.
 */
export function lmHeadCrossEntropy(hidden: Tensor, head: Tensor, labels: Tensor, options: LmHeadLossOptions): CrossEntropyResult {
  const ignoreIndex = options.ignoreIndex ?? -100;
  const V = vocabOf(head);
  if (options.chunk >= V) return crossEntropy(hidden.matmul(head.t()), labels, ignoreIndex);
  if (labels.dtype !== "int64" && labels.dtype !== "int32") {
    throw new ShapeError(`lmHeadCrossEntropy: labels must be int64 or int32, got ${labels}`);
  }
  const D = hidden.shape[hidden.rank - 1]!;
  if (hidden.rank !== labels.rank + 1 || labels.shape.some((d, i) => d !== hidden.shape[i])) {
    throw new ShapeError(`lmHeadCrossEntropy: hidden ${hidden} must have the labels' shape ${labels} plus a hidden axis`);
  }
  const g = hidden.graph;
  const h = reshape(hidden, [-1, D]); // [N, D]
  const flat = reshape(labels, [-1]); // [N]
  const ignored = equal(flat, g.scalar(ignoreIndex, labels.dtype));
  const safe = where(ignored, g.scalar(0, labels.dtype), flat);
  const keep = cast(not(ignored), hidden.dtype);
  const lse = chunkedLogSumExp(h, head, options.chunk);
  const target = squeeze(reduceSum(mul(h, gather(head, safe)), -1, true), -1); // [N]
  const nllFlat = mul(sub(lse, target), keep);
  const count = reduceSum(keep);
  const loss = div(reduceSum(nllFlat), maximum(count, 1));
  return { loss, nll: reshape(nllFlat, labels.shape.slice()), count };
}

/** Bytes of float32 logits one chunk of `chunk` rows holds for `tokens` tokens. */
export function chunkLogitBytes(tokens: number, chunk: number): number {
  return 4 * tokens * chunk;
}

/**
 * The chunk size for a head of `vocab` rows when a batch holds up to `tokens` tokens: the whole vocabulary when its
 * logits fit `budgetBytes` (the plain graph, fastest), else the largest multiple of 256 rows that fits (at least 256).
 */
export function autoHeadChunk(vocab: number, tokens: number, budgetBytes = DEFAULT_HEAD_BUDGET_BYTES): number {
  if (chunkLogitBytes(tokens, vocab) <= budgetBytes) return vocab;
  const rows = Math.floor(budgetBytes / (4 * Math.max(1, tokens)) / 256) * 256;
  return Math.max(256, Math.min(vocab, rows));
}

/** Default memory for one chunk's [tokens, chunk] float32 logits. */
export const DEFAULT_HEAD_BUDGET_BYTES = 256 * 2 ** 20;
