// Gradients reach the parameters through the chain of thoughts: float64 finite differences.
//
// Isolating the path through the latents: a parameter θ reaches the loss directly (every position's computation) and
// through the thoughts fed at the latent slots. With the thoughts held fixed at their values at θ0 (graph option
// thoughts "input"), the loss L_fixed(θ) has only the direct path, so
//   d/dθ [L(θ) - L_fixed(θ)] at θ0  =  the gradient through the thoughts alone,
// which finite differences of the two graphs measure, and which must equal autodiff's full gradient minus its
// gradient with the thoughts detached (thoughts "detached").
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildCoconutLossGraph } from "../../../src/baselines/coconut/graph.ts";
import { coconutBatch } from "../../../src/baselines/coconut/batch.ts";
import { grad } from "../../../src/graph/index.ts";
import { compile, type Feed } from "../../../src/runtime/session.ts";
import { example, tinyModel, weightFeeds } from "./helpers.ts";

const NAMES = ["model.layers.0.mlp.up_proj.weight", "model.norm.weight", "model.embed_tokens.weight"];

test("coconut: float64 finite differences of the gradient through the latent thoughts (and of the whole gradient)", async () => {
  const { config, weights } = tinyModel(13);
  const n = 3;
  // Past the last stage: every step dropped, 3 thoughts; only the answer and EOS are scored.
  const e = example(21, 5, [2, 2], 3, { stage: 4, maxLatentStage: 3, c: 1 });
  assert.equal(e.latentCount, n);
  const feeds: Record<string, Feed> = { ...coconutBatch([e]).feeds, ...weightFeeds(weights, true) };

  const analytic = async (thoughts: "chain" | "detached") => {
    const lg = buildCoconutLossGraph(config, { latents: n, dtype: "float64", thoughts });
    const gs = grad(lg.loss, NAMES.map((x) => lg.graph.inputs.get(x)!));
    const outs = Object.fromEntries([["loss", lg.loss], ["thoughts", lg.thoughts!], ...gs.map((t, i) => [`g${i}`, t])]);
    return (await compile(lg.graph, outs, { threads: 1 })).run(feeds);
  };
  const full = await analytic("chain");
  const detached = await analytic("detached");
  const chainGraph = buildCoconutLossGraph(config, { latents: n, dtype: "float64" });
  const chain = await compile(chainGraph.graph, { loss: chainGraph.loss }, { threads: 1 });
  const fixedGraph = buildCoconutLossGraph(config, { latents: n, dtype: "float64", thoughts: "input" });
  const fixed = await compile(fixedGraph.graph, { loss: fixedGraph.loss }, { threads: 1 });
  const thoughts0 = { data: full.thoughts!.data, dims: full.thoughts!.dims };
  const lossOf = async (c: typeof chain, f: Record<string, Feed>) => Number((await c.run(f)).loss.data[0]);

  const base = Number(full.loss!.data[0]);
  assert.ok(Math.abs((await lossOf(fixed, { ...feeds, thoughts: thoughts0 })) - base) < 1e-12, "fixed thoughts reproduce the loss at θ0");

  const h = 1e-5;
  for (const [i, name] of NAMES.entries()) {
    const theta = feeds[name] as Float64Array;
    const gFull = full[`g${i}`]!.data as Float64Array;
    const gDirect = detached[`g${i}`]!.data as Float64Array;
    const viaThoughts = gFull.map((v, j) => v - gDirect[j]!);
    const order = [...viaThoughts.keys()].sort((a, b) => Math.abs(viaThoughts[b]!) - Math.abs(viaThoughts[a]!));
    assert.ok(Math.abs(viaThoughts[order[0]!]!) > 1e-4, `${name}: no gradient through the thoughts`);
    for (const j of order.slice(0, 3)) {
      const at = async (delta: number) => {
        const t = theta.slice();
        t[j]! += delta;
        const f = { ...feeds, [name]: t };
        return { chain: await lossOf(chain, f), fixed: await lossOf(fixed, { ...f, thoughts: thoughts0 }) };
      };
      const plus = await at(h);
      const minus = await at(-h);
      const fdFull = (plus.chain - minus.chain) / (2 * h);
      const fdThoughts = fdFull - (plus.fixed - minus.fixed) / (2 * h);
      const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-6, Math.abs(a) + Math.abs(b));
      assert.ok(rel(fdThoughts, viaThoughts[j]!) < 1e-5, `${name}[${j}] through the thoughts: autodiff ${viaThoughts[j]} vs FD ${fdThoughts}`);
      assert.ok(rel(fdFull, gFull[j]!) < 1e-5, `${name}[${j}] whole: autodiff ${gFull[j]} vs FD ${fdFull}`);
    }
  }
});
