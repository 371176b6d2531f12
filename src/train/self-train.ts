// CoT's ReST-EM self-training (after the supervised run): per iteration, sample K outputs (rationale + answer) per
// training input from the current model with the paper's sampling, score each parsed answer against the reference
// with `reward`, keep at most REST_KEEP per input with reward >= REST_THRESHOLD (highest first), and fine-tune the
// current weights on the kept outputs. The reward comes from the caller (the eval layer's ROUGE).
import type { PairConfig } from "../flythinker/graph.ts";
import { generateForRecords, PAPER_SAMPLING } from "../flythinker/generate-records.ts";
import { unflattenPair } from "../flythinker/pair-params.ts";
import type { PersonalRecord } from "../data/record.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import { endOfTargetId } from "../data/prompt-ids.ts";
import { namedLeaves } from "../model/hf-names.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { fitExamples, type Example } from "./batching.ts";
import { type Reporter, countProgress, silentReporter } from "./progress.ts";
import { type MemoryOptions, type TrainConfig, Trainer } from "./trainer.ts";

export const REST_KEEP = 10;
export const REST_THRESHOLD = 0.3;

/** A reward of a parsed answer against the reference (higher is better). */
export type Reward = (prediction: string, reference: string) => number;

export interface ScoredSample {
  text: string;
  reward: number;
}

/**
 * The samples of one input that are kept: reward >= threshold, highest reward first (ties: the earlier sample), at
 * most `keep` of them.
 */
export function keptSamples<T extends { reward: number }>(samples: readonly T[], keep = REST_KEEP, threshold = REST_THRESHOLD): T[] {
  return samples
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => s.reward >= threshold)
    .sort((a, b) => b.s.reward - a.s.reward || a.i - b.i)
    .slice(0, keep)
    .map(({ s }) => s);
}

export interface SelfTrainInit {
  pair: PairConfig;
  weights: ReadonlyMap<string, Float32Array>;
  tok: TextTokenizer;
  config: TrainConfig & { cot: { selfTrainIters: number; selfTrainK: number } };
  /** The training records and their (fitted) examples, by record id. */
  records: readonly PersonalRecord[];
  examples: readonly Example[];
  prompt: PromptBuildOptions;
  reward: Reward;
  /** The longest example the step takes, in tokens. */
  maxLength: number;
  padId: number;
  threads?: number;
  memory?: MemoryOptions;
  reporter?: Reporter;
}

export interface SelfTrainIteration {
  iteration: number;
  sampled: number;
  kept: number;
  inputs_with_kept: number;
  mean_reward: number;
  parse_failures: number;
  steps: number;
  final_loss: number | null;
}

/** Runs the iterations; the weights after the last one and a summary row per iteration. */
export async function selfTrain(o: SelfTrainInit): Promise<{ weights: Map<string, Float32Array>; iterations: SelfTrainIteration[] }> {
  const reporter = o.reporter ?? silentReporter;
  const { selfTrainIters: iters, selfTrainK: k } = o.config.cot;
  const byId = new Map(o.examples.map((e) => [e.id, e] as const));
  const records = o.records.filter((r) => byId.has(r.id));
  const end = endOfTargetId(o.tok, o.pair.generator);
  const maxNewTokens = Math.max(1, ...o.examples.map((e) => e.targetIds.length));
  let weights = new Map(o.weights);
  const iterations: SelfTrainIteration[] = [];
  for (let it = 1; it <= iters; it++) {
    const model = { pair: { generator: o.pair.generator, fusion: o.pair.fusion }, generator: generatorTensors(o.pair, weights) };
    const samples = new Map<string, { text: string; reward: number }[]>();
    const progress = countProgress(`self-training ${it}/${iters}: sampling`, records.length * k, (l) => reporter.log(l));
    let failures = 0;
    let rewardSum = 0;
    for (let j = 0; j < k; j++) {
      const seed = o.config.seed + 1 + ((it - 1) * k + j) * records.length;
      for await (const p of generateForRecords(model, o.tok, records, { ...PAPER_SAMPLING, maxNewTokens, seed, mode: "parallel", prompt: o.prompt, cot: true, batch: 8, generatorThreads: o.threads })) {
        const reward = o.reward(p.prediction, p.reference);
        if (p.parse_failed) failures++;
        rewardSum += reward;
        const list = samples.get(p.id) ?? [];
        list.push({ text: p.raw ?? p.prediction, reward });
        samples.set(p.id, list);
        progress.tick();
      }
    }
    progress.stop();
    const kept: Example[] = [];
    let inputs = 0;
    for (const r of records) {
      const chosen = keptSamples(samples.get(r.id) ?? []);
      if (chosen.length > 0) inputs++;
      for (const s of chosen) {
        const ids = o.tok.encode(s.text, { addSpecialTokens: false });
        kept.push({ id: r.id, promptIds: byId.get(r.id)!.promptIds, targetIds: end === null ? ids : [...ids, end] });
      }
    }
    const fitted = fitExamples(kept, o.maxLength).examples;
    const row: SelfTrainIteration = {
      iteration: it,
      sampled: records.length * k,
      kept: fitted.length,
      inputs_with_kept: inputs,
      mean_reward: records.length > 0 ? rewardSum / (records.length * k) : 0,
      parse_failures: failures,
      steps: 0,
      final_loss: null,
    };
    reporter.log(`self-training ${it}/${iters}: kept ${fitted.length} of ${row.sampled} samples (${inputs} inputs), mean reward ${row.mean_reward.toFixed(4)}, ${failures} without separator`);
    if (fitted.length > 0) {
      const trainer = await Trainer.create({ pair: { generator: o.pair.generator, fusion: o.pair.fusion }, weights, train: fitted, config: o.config, cadence: { evalEvery: 0, checkpointEvery: 0 }, padId: o.padId, threads: o.threads, memory: o.memory, reporter });
      const result = await trainer.run();
      weights = trainer.weights();
      row.steps = result.steps;
      row.final_loss = result.finalLoss;
    }
    iterations.push(row);
  }
  return { weights, iterations };
}

/** The Generator's float32 tensors by HF name, from weights keyed by graph input name. */
function generatorTensors(pair: PairConfig, weights: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> {
  return new Map(namedLeaves(unflattenPair({ generator: pair.generator, fusion: pair.fusion }, weights, "self-training weights").generator));
}
