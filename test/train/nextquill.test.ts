// NextQuill's step against independent references: with uniform weights and alpha = 0 it is SFT (loss and gradients,
// then 20 trainer steps); identical prompts make the difference loss log(V) with a zero gradient; the weight rule on
// hand-made probabilities; padding and row order do not matter; float64 finite differences of the whole loss.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, grad, neededTensors, type Tensor } from "../../src/graph/index.ts";
import { compile, type Feed } from "../../src/runtime/session.ts";
import { buildLossGraph, type PairConfig } from "../../src/flythinker/graph.ts";
import { pairLeaves } from "../../src/flythinker/pair-params.ts";
import { makeBatch, type Batch, type Example } from "../../src/train/batching.ts";
import { batchFeeds } from "../../src/train/steps.ts";
import { Trainer } from "../../src/train/trainer.ts";
import {
  type NextQuillOptions,
  buildNextQuillGraph,
  checkNextQuillOptions,
  makeNextQuillBatch,
  tokenWeights,
} from "../../src/train/nextquill.ts";
import { Rng } from "../../src/util/random.ts";
import { config, fusion, pairWeights, tiny } from "./helpers.ts";

const GEN = tiny();
const V = GEN.vocabSize;
const PAIR: PairConfig = { generator: GEN, fusion: fusion() };
const UNIFORM: NextQuillOptions = { alpha: 0, threshold: 0.05, weights: [1, 1] };

/** Examples whose history-free prompt is the tail of the prompt (as the Non-pers prompt drops the history part). */
function examples(n: number, seed: number): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const query = Array.from({ length: 2 + rng.int(4) }, () => rng.int(V));
    const history = Array.from({ length: 1 + rng.int(6) }, () => rng.int(V));
    return {
      id: `ex${i}`,
      promptIds: [...history, ...query],
      counterPromptIds: query,
      targetIds: Array.from({ length: 1 + rng.int(6) }, () => rng.int(V)),
    };
  });
}

function toF64(feeds: Record<string, Feed>): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const [k, v] of Object.entries(feeds)) out[k] = v instanceof Float32Array ? Float64Array.from(v) : v;
  return out;
}

async function run(graph: Graph, outputs: Record<string, Tensor>, feeds: Record<string, Feed>) {
  const c = await compile(graph, outputs, { threads: 1 });
  return c.run(feeds);
}

function weightFeeds(weights: Map<string, Float32Array>, graph: Graph): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const [n, v] of weights) if (graph.inputs.has(n)) out[n] = v;
  return out;
}

function maxAbs(a: ArrayLike<number>, b?: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - (b ? b[i]! : 0)));
  return m;
}

test("nextquill: uniform weights and alpha = 0 give SFT's loss and gradients on the same batch (1e-6)", async () => {
  const ex = examples(5, 1);
  const idx = ex.map((_, i) => i);
  const weights = pairWeights(PAIR, 2, 0.3);
  for (const chunk of [V, 24]) {
    const sft = buildLossGraph(PAIR, { headChunk: chunk });
    const nq = buildNextQuillGraph(GEN, UNIFORM, { headChunk: chunk });
    const sftParams = pairLeaves(sft);
    const nqParams = pairLeaves(nq);
    const gs = grad(sft.loss, sftParams);
    const gn = grad(nq.loss, nqParams);
    const so: Record<string, Tensor> = { loss: sft.loss, count: sft.count };
    const no: Record<string, Tensor> = { loss: nq.loss, count: nq.count };
    gs.forEach((g, i) => (so[`g${i}`] = g));
    gn.forEach((g, i) => (no[`g${i}`] = g));
    const a = await run(sft.graph, so, { ...weightFeeds(weights, sft.graph), ...batchFeeds(makeBatch(ex, idx), false) });
    const b = await run(nq.graph, no, { ...weightFeeds(weights, nq.graph), ...batchFeeds(makeNextQuillBatch(ex, idx), false) });
    assert.equal(Number(a.count!.data[0]), Number(b.count!.data[0]));
    assert.ok(Math.abs(Number(a.loss!.data[0]) - Number(b.loss!.data[0])) <= 1e-6, `chunk ${chunk}: ${a.loss!.data[0]} vs ${b.loss!.data[0]}`);
    assert.equal(sftParams.length, nqParams.length);
    sftParams.forEach((p, i) => {
      assert.equal(p.inputName, nqParams[i]!.inputName);
      const d = maxAbs(a[`g${i}`]!.data as Float32Array, b[`g${i}`]!.data as Float32Array);
      assert.ok(d <= 1e-6, `chunk ${chunk}, ${p.inputName}: gradients differ by ${d}`);
    });
    assert.ok(maxAbs(a.g0!.data as Float32Array) > 1e-3, "the gradient is not trivially zero");
  }
});

test("nextquill: with uniform weights and alpha = 0 the trainer's losses equal SFT's for 20 steps", async () => {
  const train = examples(30, 3);
  const sft = await Trainer.create({ pair: PAIR, weights: pairWeights(PAIR), train, config: config({ method: "sft", maxSteps: 20, batchTokens: 48 }), threads: 1 });
  // Two rows per example: twice the budget gives the same examples per micro-batch.
  const nq = await Trainer.create({
    pair: PAIR,
    weights: pairWeights(PAIR),
    train,
    config: config({ method: "nextquill", nextquill: UNIFORM, maxSteps: 20, batchTokens: 96 }),
    threads: 1,
  });
  const a = await sft.run();
  const b = await nq.run();
  assert.equal(b.metrics.length, 20);
  for (let i = 0; i < 20; i++) {
    const [x, y] = [a.metrics[i]!, b.metrics[i]!];
    assert.ok(Math.abs(x.loss - y.loss) <= 1e-5, `step ${i + 1}: sft ${x.loss}, nextquill ${y.loss}`);
  }
  assert.ok(a.metrics[19]!.loss < a.metrics[0]!.loss - 0.3, "training moved the loss");
});

test("nextquill: identical prompts give L_diff = log(V) and a zero gradient of the alpha term", async () => {
  const ex = examples(3, 4).map((e) => ({ ...e, counterPromptIds: e.promptIds }));
  const idx = ex.map((_, i) => i);
  const nq = buildNextQuillGraph(GEN, { alpha: 1, threshold: 0.05, weights: [0.9, 0.1] }, { dtype: "float64", headChunk: 24 });
  const params = pairLeaves(nq);
  const gd = grad(nq.diffLoss, params);
  const outputs: Record<string, Tensor> = { diff: nq.diffLoss };
  gd.forEach((g, i) => (outputs[`g${i}`] = g));
  const feeds = toF64({ ...weightFeeds(pairWeights(PAIR, 2, 0.3), nq.graph), ...batchFeeds(makeNextQuillBatch(ex, idx), false) });
  const out = await run(nq.graph, outputs, feeds);
  assert.ok(Math.abs(Number(out.diff!.data[0]) - Math.log(V)) <= 1e-12, `${out.diff!.data[0]} vs log(${V})`);
  let worst = 0;
  params.forEach((_, i) => (worst = Math.max(worst, maxAbs(out[`g${i}`]!.data as Float64Array))));
  assert.ok(worst <= 1e-12, `largest gradient entry of the alpha term: ${worst}`);
  // With different prompts the same term has a real gradient.
  const differing = toF64({ ...weightFeeds(pairWeights(PAIR, 2, 0.3), nq.graph), ...batchFeeds(makeNextQuillBatch(examples(3, 4), idx), false) });
  const out2 = await run(nq.graph, outputs, differing);
  let big = 0;
  params.forEach((_, i) => (big = Math.max(big, maxAbs(out2[`g${i}`]!.data as Float64Array))));
  assert.ok(big > 1e-3, `gradient with differing prompts: ${big}`);
});

test("nextquill: the weight rule on hand-made probabilities (0.06 -> hi, 0.04 -> lo, normalised over the targets)", async () => {
  const g = new Graph();
  const pH = g.input("ph", "float64", ["t"]);
  const p0 = g.input("p0", "float64", ["t"]);
  const w = tokenWeights(pH, p0, { threshold: 0.05, weights: [0.9, 0.1] });
  const ph = Float64Array.of(0.56, 0.54, 0.3, 0.01);
  const pz = Float64Array.of(0.5, 0.5, 0.1, 0.4);
  const out = await run(g, { w }, { ph: { data: ph, dims: [4] }, p0: { data: pz, dims: [4] } });
  const want = [0.9, 0.1, 0.9, 0.1].map((x) => x / 2.0);
  assert.deepEqual([...(out.w!.data as Float64Array)].map((x) => Number(x.toFixed(12))), want);
});

test("nextquill: the loss does not depend on row order, padding amount or the pad id", async () => {
  const ex = examples(6, 7);
  const nq = buildNextQuillGraph(GEN, { alpha: 0.3, threshold: -0.001, weights: [0.9, 0.1] }, { headChunk: 20 });
  const c = await compile(nq.graph, { loss: nq.loss }, { threads: 1 });
  const wf = weightFeeds(pairWeights(PAIR, 2, 0.3), nq.graph);
  const lossOf = async (b: Batch) => Number((await c.run({ ...wf, ...batchFeeds(b, false) })).loss!.data[0]);
  const base = await lossOf(makeNextQuillBatch(ex, [0, 1, 2, 3, 4, 5]));
  for (const [order, padId] of [[[5, 3, 1, 0, 2, 4], 0], [[2, 0, 4, 5, 1, 3], 17], [[0, 1, 2, 3, 4, 5], 63]] as const) {
    const l = await lossOf(makeNextQuillBatch(ex, order, { padId }));
    assert.ok(Math.abs(l - base) <= 1e-6, `order ${order.join(",")}, pad ${padId}: ${l} vs ${base}`);
  }
  // A longer example in the batch pads every other row further; the others' contribution is unchanged, so the
  // difference equals what the long example adds on its own (checked by removing it again: same as base).
  const long: Example = { id: "long", promptIds: Array.from({ length: 14 }, (_, i) => i), counterPromptIds: [1, 2], targetIds: [3, 4, 5] };
  const more = [...ex, long];
  const withLong = await lossOf(makeNextQuillBatch(more, [6, 0, 1, 2, 3, 4, 5]));
  assert.ok(Number.isFinite(withLong) && Math.abs(withLong - base) > 1e-4, "the long example changes the loss");
  const rows = makeNextQuillBatch(more, [6, 0, 1, 2, 3, 4, 5]);
  assert.equal(rows.seq, 17);
});

test("nextquill: the total loss's gradient equals float64 finite differences (weights fixed by the threshold)", async () => {
  const ex = examples(3, 11);
  const idx = ex.map((_, i) => i);
  const probe = buildNextQuillGraph(GEN, { alpha: 0.5, threshold: 0, weights: [0.9, 0.1] }, { dtype: "float64", headChunk: 24 });
  const feeds = toF64({ ...weightFeeds(pairWeights(PAIR, 2, 0.5), probe.graph), ...batchFeeds(makeNextQuillBatch(ex, idx), false) });
  const pr = await run(probe.graph, { pH: probe.pH, p0: probe.p0 }, feeds);
  // A threshold in the widest gap of the observed p_h - p_0, so both weights occur and no step crosses it.
  const d = [...(pr.pH!.data as Float64Array)].map((p, i) => p - (pr.p0!.data as Float64Array)[i]!).sort((a, b) => a - b);
  let gap = 0;
  let threshold = 0;
  for (let i = 1; i < d.length; i++) if (d[i]! - d[i - 1]! > gap) [gap, threshold] = [d[i]! - d[i - 1]!, (d[i]! + d[i - 1]!) / 2];
  assert.ok(gap > 1e-4, `gap ${gap}`);
  const nq = buildNextQuillGraph(GEN, { alpha: 0.5, threshold, weights: [0.9, 0.1] }, { dtype: "float64", headChunk: 24 });
  const names = ["generator.model.layers.0.self_attn.q_proj.weight", "generator.model.layers.0.mlp.down_proj.weight", "generator.model.norm.weight", "generator.model.embed_tokens.weight"];
  const wrt = names.map((n) => nq.graph.inputs.get(n)!);
  const grads = grad(nq.loss, wrt);
  const outputs: Record<string, Tensor> = { loss: nq.loss, w: nq.weights };
  grads.forEach((g, i) => (outputs[`g${i}`] = g));
  const analytic = await run(nq.graph, outputs, feeds);
  const ws = [...(analytic.w!.data as Float64Array)];
  assert.ok(new Set(ws.map((x) => x.toFixed(9))).size === 2, "both weights occur");
  const lossOnly = await compile(nq.graph, { loss: nq.loss }, { threads: 1 });
  const h = 1e-5;
  for (const [i, name] of names.entries()) {
    const base = feeds[name] as Float64Array;
    const ga = analytic[`g${i}`]!.data as Float64Array;
    const order = [...ga.keys()].sort((a, b) => Math.abs(ga[b]!) - Math.abs(ga[a]!));
    for (const j of [...order.slice(0, 3), Math.floor(base.length / 3)]) {
      const plus = base.slice();
      plus[j]! += h;
      const minus = base.slice();
      minus[j]! -= h;
      const lp = Number((await lossOnly.run({ ...feeds, [name]: plus })).loss!.data[0]);
      const lm = Number((await lossOnly.run({ ...feeds, [name]: minus })).loss!.data[0]);
      const fd = (lp - lm) / (2 * h);
      const err = Math.abs(fd - ga[j]!) / Math.max(1e-6, Math.abs(fd) + Math.abs(ga[j]!));
      assert.ok(err < 1e-5, `${name}[${j}]: analytic ${ga[j]} vs finite difference ${fd}`);
    }
  }
});

test("nextquill: options out of range name the flag and the range", () => {
  assert.throws(() => checkNextQuillOptions({ alpha: -1, threshold: 0.05, weights: [0.9, 0.1] }), /--nq-alpha must be a number >= 0/);
  assert.throws(() => checkNextQuillOptions({ alpha: 0.1, threshold: 2, weights: [0.9, 0.1] }), /--nq-threshold must be a number in \(-1, 1\)/);
  assert.throws(() => checkNextQuillOptions({ alpha: 0.1, threshold: 0.05, weights: [0.9, 0] }), /--nq-weights must be two positive numbers/);
});

test("nextquill: at Qwen's 151,936-row vocabulary the chunked head gives the one-chunk loss, and no value is [tokens, vocab]", async () => {
  const big = tiny({ vocabSize: 151936, eosTokenId: 151935 });
  const pair: PairConfig = { generator: big, fusion: fusion() };
  const weights = pairWeights(pair, 4, 0.05);
  const rng = new Rng(12);
  const ex: Example[] = Array.from({ length: 2 }, (_, i) => ({
    id: `big${i}`,
    promptIds: Array.from({ length: 6 }, () => rng.int(151936)),
    counterPromptIds: Array.from({ length: 3 }, () => rng.int(151936)),
    targetIds: Array.from({ length: 4 }, () => rng.int(151936)),
  }));
  const feeds = batchFeeds(makeNextQuillBatch(ex, [0, 1]), false);
  const losses: number[] = [];
  for (const chunk of [16384, 151936]) {
    const nq = buildNextQuillGraph(big, { alpha: 0.1, threshold: 0.05, weights: [0.9, 0.1] }, { headChunk: chunk });
    const [gHead] = grad(nq.loss, [nq.graph.inputs.get("generator.lm_head.weight") ?? nq.graph.inputs.get("generator.model.embed_tokens.weight")!]);
    if (chunk < 151936) {
      const D = big.hiddenSize;
      const wide = neededTensors([nq.loss, gHead!]).filter((t) => t.shape.includes(151936) && !(t.shape.length === 2 && t.shape[1] === D));
      assert.deepEqual(wide.map((t) => String(t)), [], "only [vocab, hidden] tables have a vocabulary axis");
    }
    const out = await run(nq.graph, { loss: nq.loss, g: gHead! }, { ...weightFeeds(weights, nq.graph), ...feeds });
    losses.push(Number(out.loss!.data[0]));
    assert.ok(maxAbs(out.g!.data as Float32Array) > 0);
  }
  assert.ok(Number.isFinite(losses[0]!) && Math.abs(losses[0]! - losses[1]!) <= 1e-5, `${losses[0]} vs ${losses[1]}`);
});
