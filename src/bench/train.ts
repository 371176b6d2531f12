// `bench train`: the cost of a FlyThinker training step against an SFT step, measured in the same run.
//   Generator = presetConfig("reference") (docs/conventions.md, Performance yardsticks), Reasoner = the same at half
//   width (hidden 128, same depth and vocabulary, heads halved), batch 4 x seq 256 (64 prompt + 192 response tokens
//   per row, loss on the response), one fused step each (forward, backward, clipping, AdamW in one run) as
//   `flythinker train` runs it.
//   The two kinds of step alternate, so both see the same machine load; times are medians, and the ratio is the median
//   of the per-pair ratios (each FlyThinker step over the SFT step just before it).
// allowed_ratio = 1 + C_R / C_G + 0.10, with C the forward FLOPs per token of each model:
//   C = 2 * M + 4 * layers * seq * heads * headDim
//   M = parameters in matrix products (the input embedding is a lookup and does not count unless tied); for the
//   Reasoner the LM head is left out too, as FlyThinker uses its final-norm hidden states, never its logits.
//   The second term is attention (QK^T and PV over the full seq x seq score matrix, 2 FLOPs per multiply-add),
//   averaged per token.
import { halfWidth } from "./flythinker-decode.ts";
import { median, round } from "./stats.ts";
import { buildLossGraph, weightInputs, type PairConfig } from "../flythinker/graph.ts";
import { flattenPair } from "../flythinker/pair-params.ts";
import { DEFAULT_FUSION } from "../flythinker/fusion.ts";
import { type ModelConfig, presetConfig } from "../model/config.ts";
import { initParams } from "../model/init.ts";
import { headOf, layerLeaves, numel, paramSpecs } from "../model/params.ts";
import { defaultThreads } from "../runtime/session.ts";
import { type Batch, type Example, makeBatch } from "../train/batching.ts";
import { createEngine } from "../train/steps.ts";
import { Rng } from "../util/random.ts";

export interface TrainBenchOptions {
  threads?: number;
  /** Steps of each kind (the first 2 are warm-up, the rest timed; >= 7). */
  steps?: number;
  batch?: number;
  seq?: number;
  promptTokens?: number;
  log?: (line: string) => void;
}

export interface TrainBenchResult {
  threads: number;
  generator: string;
  reasoner: string;
  batch: number;
  seq: number;
  steps_timed: number;
  sft_step_ms: number;
  flythinker_step_ms: number;
  /** Median over steps of (FlyThinker step / the SFT step timed just before it). */
  ratio: number;
  /** flythinker_step_ms / sft_step_ms. */
  ratio_of_medians: number;
  allowed_ratio: number;
  within_allowed: boolean;
  generator_flops_per_token: number;
  reasoner_flops_per_token: number;
  sft_loss_first: number;
  sft_loss_last: number;
  flythinker_loss_first: number;
  flythinker_loss_last: number;
}

export const DEFAULT_TRAIN_BENCH_STEPS = 23;

/** Forward FLOPs per token (see the header); `head`: count the LM head. */
export function forwardFlopsPerToken(c: ModelConfig, seq: number, head: boolean): number {
  const specs = paramSpecs(c);
  let m = head ? numel(headOf(specs).shape) : 0; // the head: lm_head, or the embedding table when tied
  for (const layer of specs.layers) {
    for (const t of layerLeaves(layer)) if (t.shape.length === 2) m += numel(t.shape);
  }
  return 2 * m + 4 * c.numLayers * seq * c.numHeads * c.headDim;
}

function benchBatch(rng: Rng, batch: number, seq: number, prompt: number, vocab: number, enhance?: "global"): Batch {
  const examples: Example[] = Array.from({ length: batch }, () => ({
    promptIds: Array.from({ length: prompt }, () => rng.int(vocab)),
    targetIds: Array.from({ length: seq - prompt }, () => rng.int(vocab)),
  }));
  return makeBatch(examples, examples.map((_, i) => i), { enhance });
}

export async function runTrainBench(o: TrainBenchOptions = {}): Promise<TrainBenchResult> {
  const threads = o.threads ?? defaultThreads();
  const steps = o.steps ?? DEFAULT_TRAIN_BENCH_STEPS;
  const batch = o.batch ?? 4;
  const seq = o.seq ?? 256;
  const prompt = o.promptTokens ?? 64;
  const log = o.log ?? (() => {});
  if (!Number.isInteger(steps) || steps < 7) throw new RangeError(`steps must be an integer >= 7, got ${steps}`);
  if (!(prompt >= 1 && prompt < seq)) throw new RangeError(`prompt tokens must be in [1, seq), got ${prompt}`);

  const generator = presetConfig("reference");
  const reasoner = halfWidth(generator);
  const weights = flattenPair({ generator: initParams(generator, { seed: 1 }), reasoner: initParams(reasoner, { seed: 2 }) });

  const engineFor = async (pair: PairConfig) => {
    const lg = buildLossGraph(pair);
    return createEngine(lg, weightInputs(lg), weights, { compile: { threads } });
  };
  log(`compiling the SFT and FlyThinker training steps (${threads} thread(s))...`);
  const sft = await engineFor({ generator, fusion: DEFAULT_FUSION });
  const fly = await engineFor({ generator, reasoner, fusion: DEFAULT_FUSION });

  const rng = new Rng(3);
  const data = Array.from({ length: 3 }, () => benchBatch(rng, batch, seq, prompt, generator.vocabSize, "global"));
  const sftData = data.map((b) => ({ ...b, thoughtMask: undefined }));
  const sftTimes: number[] = [];
  const flyTimes: number[] = [];
  const sftLoss: number[] = [];
  const flyLoss: number[] = [];
  const lr = 1e-3;
  for (let i = 0; i < steps; i++) {
    let t = performance.now();
    sftLoss.push((await sft.step([sftData[i % 3]!], lr)).loss);
    sftTimes.push(performance.now() - t);
    t = performance.now();
    flyLoss.push((await fly.step([data[i % 3]!], lr)).loss);
    flyTimes.push(performance.now() - t);
    log(`step ${i + 1}/${steps}: sft ${sftTimes[i]!.toFixed(1)} ms, flythinker ${flyTimes[i]!.toFixed(1)} ms`);
  }
  const sftMs = median(sftTimes.slice(2));
  const flyMs = median(flyTimes.slice(2));
  const cG = forwardFlopsPerToken(generator, seq, true);
  const cR = forwardFlopsPerToken(reasoner, seq, false);
  const allowed = 1 + cR / cG + 0.1;
  // Each FlyThinker step is timed right after an SFT step, so the pair sees the same machine state; the median of
  // the per-pair ratios is steadier under drifting load than the ratio of the two medians (both are reported).
  const pairRatios = flyTimes.slice(2).map((f, i) => f / sftTimes[i + 2]!);
  const ratio = median(pairRatios);
  return {
    threads,
    generator: `reference (hidden ${generator.hiddenSize}, ${generator.numLayers} layers, ${generator.numHeads}/${generator.numKvHeads} heads)`,
    reasoner: `half width (hidden ${reasoner.hiddenSize}, ${reasoner.numLayers} layers, ${reasoner.numHeads}/${reasoner.numKvHeads} heads)`,
    batch,
    seq,
    steps_timed: steps - 2,
    sft_step_ms: round(sftMs, 1),
    flythinker_step_ms: round(flyMs, 1),
    ratio: round(ratio, 3),
    ratio_of_medians: round(flyMs / sftMs, 3),
    allowed_ratio: round(allowed, 3),
    within_allowed: ratio <= allowed,
    generator_flops_per_token: cG,
    reasoner_flops_per_token: cR,
    sft_loss_first: round(sftLoss[0]!, 4),
    sft_loss_last: round(sftLoss[sftLoss.length - 1]!, 4),
    flythinker_loss_first: round(flyLoss[0]!, 4),
    flythinker_loss_last: round(flyLoss[flyLoss.length - 1]!, 4),
  };
}

export function trainBenchTable(r: TrainBenchResult): string {
  const rows: [string, string][] = [
    ["threads", String(r.threads)],
    ["Generator", r.generator],
    ["Reasoner", r.reasoner],
    ["batch", `${r.batch} x ${r.seq} tokens`],
    ["SFT step", `${r.sft_step_ms} ms (median of ${r.steps_timed})`],
    ["FlyThinker step", `${r.flythinker_step_ms} ms (median of ${r.steps_timed})`],
    ["ratio", `${r.ratio} median of per-step ratios (allowed ${r.allowed_ratio} = 1 + C_R/C_G + 0.10; ${r.within_allowed ? "within" : "over"}); ratio of the medians ${r.ratio_of_medians}`],
    ["forward FLOPs/token", `Generator ${(r.generator_flops_per_token / 1e6).toFixed(2)}M, Reasoner ${(r.reasoner_flops_per_token / 1e6).toFixed(2)}M`],
    ["loss", `sft ${r.sft_loss_first} -> ${r.sft_loss_last}, flythinker ${r.flythinker_loss_first} -> ${r.flythinker_loss_last}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}
