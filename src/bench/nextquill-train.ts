// `bench train --method nextquill`: a NextQuill training step against an SFT step on the same examples, measured in
// the same run. Generator = the reference preset; 4 examples of 64 prompt + 192 response tokens (SFT: 4 rows), and for
// NextQuill the same 4 rows plus their history-free versions (16 query tokens + the same 192), so 8 rows. Both steps
// are fused (forward, backward, clipping, AdamW in one run) and built as `flythinker train` builds them. The kinds
// alternate so both see the same machine load; the ratio is the median of per-pair ratios (NextQuill step over the
// SFT step just before it). The paper's cost table puts NextQuill at about 2 x SFT (two forward and backward passes);
// the target here is 2.1.
import { median, round } from "./stats.ts";
import { buildLossGraph } from "../flythinker/graph.ts";
import { flattenPair, pairLeaves } from "../flythinker/pair-params.ts";
import { DEFAULT_FUSION } from "../flythinker/fusion.ts";
import { presetConfig } from "../model/config.ts";
import { initParams } from "../model/init.ts";
import { defaultThreads } from "../runtime/session.ts";
import { type Example, makeBatch } from "../train/batching.ts";
import { DEFAULT_NEXTQUILL, buildNextQuillGraph, makeNextQuillBatch } from "../train/nextquill.ts";
import { lossGraphMemoryOptions } from "../train/trainer.ts";
import { createEngine } from "../train/steps.ts";
import { Rng } from "../util/random.ts";

export interface NextQuillBenchOptions {
  threads?: number;
  /** Steps of each kind (the first 2 untimed; >= 7). */
  steps?: number;
  log?: (line: string) => void;
}

export interface NextQuillBenchResult {
  method: "nextquill";
  threads: number;
  generator: string;
  examples: number;
  sft_tokens: number;
  nextquill_tokens: number;
  steps_timed: number;
  sft_step_ms: number;
  nextquill_step_ms: number;
  /** Median over steps of (NextQuill step / the SFT step timed just before it). */
  ratio: number;
  ratio_of_medians: number;
  target_ratio: number;
  within_target: boolean;
  sft_loss_first: number;
  sft_loss_last: number;
  nextquill_loss_first: number;
  nextquill_loss_last: number;
}

export const NEXTQUILL_TARGET_RATIO = 2.1;

export async function runNextQuillBench(o: NextQuillBenchOptions = {}): Promise<NextQuillBenchResult> {
  const threads = o.threads ?? defaultThreads();
  const steps = o.steps ?? 23;
  const log = o.log ?? (() => {});
  if (!Number.isInteger(steps) || steps < 7) throw new RangeError(`steps must be an integer >= 7, got ${steps}`);
  const generator = presetConfig("reference");
  const V = generator.vocabSize;
  const [B, prompt, query, response] = [4, 64, 16, 192];
  const weights = flattenPair({ generator: initParams(generator, { seed: 1 }) });
  const rng = new Rng(3);
  const sets = Array.from({ length: 3 }, () =>
    Array.from({ length: B }, (): Example => {
      const promptIds = Array.from({ length: prompt }, () => rng.int(V));
      return { promptIds, counterPromptIds: promptIds.slice(prompt - query), targetIds: Array.from({ length: response }, () => rng.int(V)) };
    }),
  );
  const idx = [0, 1, 2, 3];
  const sftData = sets.map((s) => makeBatch(s, idx));
  const nqData = sets.map((s) => makeNextQuillBatch(s, idx));
  log(`compiling the SFT and NextQuill training steps (${threads} thread(s))...`);
  const sftGraph = buildLossGraph({ generator, fusion: DEFAULT_FUSION }, lossGraphMemoryOptions({}, V, sftData[0]!.rows * sftData[0]!.seq));
  const sft = await createEngine(sftGraph, pairLeaves(sftGraph), weights, { compile: { threads } });
  const nqGraph = buildNextQuillGraph(generator, DEFAULT_NEXTQUILL, lossGraphMemoryOptions({}, V, nqData[0]!.rows * nqData[0]!.seq));
  const nq = await createEngine(nqGraph, pairLeaves(nqGraph), weights, { compile: { threads } });
  const sftTimes: number[] = [];
  const nqTimes: number[] = [];
  const sftLoss: number[] = [];
  const nqLoss: number[] = [];
  for (let i = 0; i < steps; i++) {
    let t = performance.now();
    sftLoss.push((await sft.step([sftData[i % 3]!], 1e-3)).loss);
    sftTimes.push(performance.now() - t);
    t = performance.now();
    nqLoss.push((await nq.step([nqData[i % 3]!], 1e-3)).loss);
    nqTimes.push(performance.now() - t);
    log(`step ${i + 1}/${steps}: sft ${sftTimes[i]!.toFixed(1)} ms, nextquill ${nqTimes[i]!.toFixed(1)} ms`);
  }
  const sftMs = median(sftTimes.slice(2));
  const nqMs = median(nqTimes.slice(2));
  const ratio = median(nqTimes.slice(2).map((x, i) => x / sftTimes[i + 2]!));
  return {
    method: "nextquill",
    threads,
    generator: `reference (hidden ${generator.hiddenSize}, ${generator.numLayers} layers, vocabulary ${V})`,
    examples: B,
    sft_tokens: sftData[0]!.tokens,
    nextquill_tokens: nqData[0]!.tokens,
    steps_timed: steps - 2,
    sft_step_ms: round(sftMs, 1),
    nextquill_step_ms: round(nqMs, 1),
    ratio: round(ratio, 3),
    ratio_of_medians: round(nqMs / sftMs, 3),
    target_ratio: NEXTQUILL_TARGET_RATIO,
    within_target: ratio <= NEXTQUILL_TARGET_RATIO,
    sft_loss_first: round(sftLoss[0]!, 4),
    sft_loss_last: round(sftLoss[sftLoss.length - 1]!, 4),
    nextquill_loss_first: round(nqLoss[0]!, 4),
    nextquill_loss_last: round(nqLoss[nqLoss.length - 1]!, 4),
  };
}

export function nextQuillBenchTable(r: NextQuillBenchResult): string {
  const rows: [string, string][] = [
    ["threads", String(r.threads)],
    ["Generator", r.generator],
    ["batch", `${r.examples} examples: SFT ${r.sft_tokens} tokens, NextQuill ${r.nextquill_tokens} tokens (with and without history)`],
    ["SFT step", `${r.sft_step_ms} ms (median of ${r.steps_timed})`],
    ["NextQuill step", `${r.nextquill_step_ms} ms (median of ${r.steps_timed})`],
    ["ratio", `${r.ratio} median of per-step ratios (target <= ${r.target_ratio}; ${r.within_target ? "within" : "over"}); ratio of the medians ${r.ratio_of_medians}`],
    ["loss", `sft ${r.sft_loss_first} -> ${r.sft_loss_last}, nextquill ${r.nextquill_loss_first} -> ${r.nextquill_loss_last}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}
