// Coconut's training graph: the KV-reuse build equals the unrolled reference (loss and gradients), and with no latents
// and no markers it is SFT's graph.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildCoconutLossGraph, type CoconutGraphMode } from "../../../src/baselines/coconut/graph.ts";
import { coconutBatch } from "../../../src/baselines/coconut/batch.ts";
import { buildLossGraph } from "../../../src/flythinker/graph.ts";
import { GENERATOR_PREFIX } from "../../../src/flythinker/pair-params.ts";
import { makeBatch } from "../../../src/train/batching.ts";
import { grad, type DType } from "../../../src/graph/index.ts";
import { compile, type Feed } from "../../../src/runtime/session.ts";
import { example, tinyModel, weightFeeds } from "./helpers.ts";

const GRAD_NAMES = [
  "model.embed_tokens.weight",
  "model.layers.0.self_attn.q_proj.weight",
  "model.layers.1.mlp.down_proj.weight",
  "model.norm.weight",
];

async function lossAndGrads(mode: CoconutGraphMode, n: number, feeds: Record<string, Feed>, dtype: DType, headChunk?: number) {
  const { config } = tinyModel();
  const lg = buildCoconutLossGraph(config, { latents: n, mode, dtype, headChunk });
  const grads = grad(lg.loss, GRAD_NAMES.map((name) => lg.graph.inputs.get(name)!));
  const outputs = Object.fromEntries([["loss", lg.loss], ...grads.map((t, i) => [`g${i}`, t])]);
  const out = await (await compile(lg.graph, outputs, { threads: 1 })).run(feeds);
  return { loss: Number(out.loss!.data[0]), grads: grads.map((_, i) => out[`g${i}`]!.data as Float32Array | Float64Array) };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const dtype of ["float32", "float64"] as const) {
  test(`coconut graph: KV reuse and the unrolled passes give the same loss and gradients (${dtype}, c=2, left-padded batch)`, async () => {
    const { weights } = tinyModel();
    const o = { stage: 2, maxLatentStage: 3, c: 2 };
    // Questions of different lengths: the prefix is left-padded so the 4 latent slots line up.
    const batch = coconutBatch([example(1, 5, [3, 2, 4], 3, o), example(2, 8, [2, 2], 4, o), example(3, 3, [4, 1, 1, 2], 2, o)]);
    assert.equal(batch.latents, 4);
    const feeds = { ...batch.feeds, ...weightFeeds(weights, dtype === "float64") };
    const kv = await lossAndGrads("kv", 4, feeds, dtype);
    const un = await lossAndGrads("unrolled", 4, feeds, dtype);
    const tol = dtype === "float64" ? 1e-12 : 1e-6;
    assert.ok(Math.abs(kv.loss - un.loss) < tol, `loss ${kv.loss} vs ${un.loss}`);
    // The chunked head (32 of 96 rows at a time) computes the same loss.
    const chunked = await lossAndGrads("kv", 4, feeds, dtype, 32);
    assert.ok(Math.abs(chunked.loss - kv.loss) < tol, `chunked head ${chunked.loss} vs ${kv.loss}`);
    assert.ok(kv.loss > 1 && Number.isFinite(kv.loss));
    kv.grads.forEach((g, i) => {
      const scale = Math.max(...Array.from(un.grads[i]!, Math.abs));
      assert.ok(scale > 1e-6, `${GRAD_NAMES[i]}: gradient is zero`);
      const d = maxDiff(g, un.grads[i]!);
      assert.ok(d < tol * Math.max(1, scale), `${GRAD_NAMES[i]}: max difference ${d} (scale ${scale})`);
    });
  });
}

test("coconut graph: no latents and no markers give SFT's loss on the same examples (1e-6)", async () => {
  const { config, weights } = tinyModel();
  const o = { stage: 0, maxLatentStage: 3, c: 1, markers: false };
  const exs = [example(4, 6, [3, 2], 3, o), example(5, 4, [5], 2, o)];
  assert.ok(exs.every((e) => e.latentCount === 0 && e.latentStart === e.promptIds.length));
  const cb = coconutBatch(exs);
  const lg = buildCoconutLossGraph(config, { latents: 0 });
  const coconut = await (await compile(lg.graph, { loss: lg.loss, count: lg.count }, { threads: 1 })).run({ ...cb.feeds, ...weightFeeds(weights) });

  const sb = makeBatch(exs, [0, 1]);
  const sft = buildLossGraph({ generator: config, fusion: { lambda: 0, fuse: "prefix", enhance: "global" } });
  const ref = await (await compile(sft.graph, { loss: sft.loss, count: sft.count }, { threads: 1 })).run({
    ids: { data: sb.ids, dims: [sb.rows, sb.seq] },
    labels: { data: sb.labels, dims: [sb.rows, sb.seq] },
    ...weightFeeds(weights, false, GENERATOR_PREFIX),
  });
  assert.equal(Number(coconut.count!.data[0]), sb.scored);
  assert.equal(cb.scored, sb.scored);
  const a = Number(coconut.loss!.data[0]);
  const b = Number(ref.loss!.data[0]);
  assert.ok(Math.abs(a - b) < 1e-6, `coconut ${a} vs SFT ${b}`);
});
