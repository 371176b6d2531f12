// The training graph's memory options change how, not what, it computes: with the chunked LM head and with activation
// checkpointing (both models) the loss and every gradient equal the plain graph's (float32, 1e-5), for SFT and for
// FlyThinker with prefix and projection fusion.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildLossGraph, weightInputs, type LossGraphOptions } from "../../src/flythinker/graph.ts";
import { grad, type Tensor } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";
import { makePair, randomIds, lossFeeds } from "./helpers.ts";
import type { FusionOptions } from "../../src/flythinker/fusion.ts";

async function lossAndGrads(model: ReturnType<typeof makePair>, options: LossGraphOptions, feeds: ReturnType<typeof lossFeeds>) {
  const lg = buildLossGraph(model.pair, options);
  const wrt = weightInputs(lg);
  const grads = grad(lg.loss, wrt);
  const outputs: Record<string, Tensor> = { loss: lg.loss };
  grads.forEach((g, i) => (outputs[`g${i}`] = g));
  const run: Record<string, { data: unknown }> = await (await compile(lg.graph, outputs, { threads: 1 })).run(feeds);
  return { loss: Number((run.loss!.data as Float32Array)[0]), grads: grads.map((_, i) => run[`g${i}`]!.data as Float32Array), names: wrt.map((t) => t.inputName!) };
}

const cases: { label: string; fusion: FusionOptions; reasoner: boolean }[] = [
  { label: "SFT", fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" }, reasoner: false },
  { label: "FlyThinker prefix", fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" }, reasoner: true },
  { label: "FlyThinker projection", fusion: { lambda: 0.5, fuse: "projection", enhance: "output" }, reasoner: true },
];

for (const c of cases) {
  test(`training graph memory options: chunked head and checkpointed layers equal the plain graph (${c.label})`, async () => {
    const model = makePair(c.fusion, c.reasoner ? {} : { rsn: null });
    const feeds = lossFeeds(model, randomIds(7, 96, 3), randomIds(6, 96, 4));
    const plain = await lossAndGrads(model, {}, feeds);
    for (const options of [{ headChunk: 40 }, { checkpointActivations: true }, { headChunk: 17, checkpointActivations: true }]) {
      const other = await lossAndGrads(model, options, feeds);
      const label = JSON.stringify(options);
      assert.ok(Math.abs(other.loss - plain.loss) < 1e-5, `${label}: loss ${other.loss} vs ${plain.loss}`);
      plain.grads.forEach((g, i) => {
        let diff = 0;
        for (let k = 0; k < g.length; k++) diff = Math.max(diff, Math.abs(g[k]! - other.grads[i]![k]!));
        assert.ok(diff < 1e-5, `${label}: gradient of ${plain.names[i]} differs by ${diff}`);
      });
      // Every weight but the Reasoner's unused LM head gets a gradient, so the comparison covers them all.
      const zero = plain.names.filter((n, i) => !plain.grads[i]!.some((v) => v !== 0));
      assert.deepEqual(zero, c.reasoner ? ["reasoner.lm_head.weight"] : []);
    }
  });
}
