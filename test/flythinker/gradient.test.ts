// Gradients reach the Reasoner through the fused loss: analytic (autodiff) vs central finite differences, float64.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildLossGraph } from "../../src/flythinker/graph.ts";
import { REASONER_PREFIX } from "../../src/flythinker/pair-params.ts";
import { PROJECTION_NAME } from "../../src/flythinker/fusion.ts";
import { grad } from "../../src/graph/index.ts";
import { compile, type Feed } from "../../src/runtime/session.ts";
import { makePair, randomIds, lossFeeds } from "./helpers.ts";

function toF64(feeds: Record<string, Feed>): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const [k, v] of Object.entries(feeds)) {
    if (v instanceof Float32Array) out[k] = Float64Array.from(v);
    else if (!ArrayBuffer.isView(v) && v.data instanceof Float32Array) out[k] = { data: Float64Array.from(v.data), dims: v.dims };
    else out[k] = v;
  }
  return out;
}

for (const fuse of ["prefix", "projection"] as const) {
  test(`flythinker: Reasoner gradients equal finite differences (${fuse})`, async () => {
    const model = makePair({ lambda: 0.5, fuse, enhance: "global" });
    const lg = buildLossGraph(model.pair, { dtype: "float64" });
    const names = [
      `${REASONER_PREFIX}model.layers.0.self_attn.q_proj.weight`,
      `${REASONER_PREFIX}model.layers.1.mlp.down_proj.weight`,
      `${REASONER_PREFIX}model.norm.weight`,
      `${REASONER_PREFIX}model.embed_tokens.weight`,
      ...(fuse === "projection" ? [PROJECTION_NAME] : []),
    ];
    const wrt = names.map((n) => lg.graph.inputs.get(n)!);
    const grads = grad(lg.loss, wrt);
    const outputs: Record<string, (typeof grads)[number]> = { loss: lg.loss };
    grads.forEach((g, i) => (outputs[`g${i}`] = g));
    outputs.norms = lg.thoughtNorms!;
    const c = await compile(lg.graph, outputs, { threads: 1 });
    const feeds = toF64(lossFeeds(model, randomIds(6, 96, 5), randomIds(5, 96, 6)));
    const analytic = await c.run(feeds);
    // Finite differences of the same function with the detached norms held at their values here.
    const fixed = buildLossGraph(model.pair, { dtype: "float64", thoughtNormsInput: true });
    const lossOnly = await compile(fixed.graph, { loss: fixed.loss }, { threads: 1 });
    const norms = analytic.norms!;
    feeds.thought_norms = { data: norms.data, dims: norms.dims };
    assert.ok(
      Math.abs(Number((await lossOnly.run(feeds)).loss.data[0]) - Number(analytic.loss!.data[0])) < 1e-12,
      "fixed-norm graph computes the same loss",
    );
    const h = 1e-5;
    for (const [i, name] of names.entries()) {
      const base = feeds[name] as Float64Array;
      const ga = analytic[`g${i}`]!.data as Float64Array;
      assert.ok(ga.some((v) => Math.abs(v) > 1e-8), `${name}: gradient is all zero`);
      // Check the 4 largest-gradient entries and 2 fixed ones.
      const order = [...ga.keys()].sort((a, b) => Math.abs(ga[b]!) - Math.abs(ga[a]!));
      for (const j of [...order.slice(0, 4), 0, Math.floor(base.length / 2)]) {
        const plus = base.slice();
        plus[j]! += h;
        const minus = base.slice();
        minus[j]! -= h;
        const lp = Number((await lossOnly.run({ ...feeds, [name]: plus })).loss.data[0]);
        const lm = Number((await lossOnly.run({ ...feeds, [name]: minus })).loss.data[0]);
        const fd = (lp - lm) / (2 * h);
        const err = Math.abs(fd - ga[j]!) / Math.max(1e-6, Math.abs(fd) + Math.abs(ga[j]!));
        assert.ok(err < 1e-5, `${name}[${j}]: analytic ${ga[j]} vs finite difference ${fd}`);
      }
    }
  });
}
