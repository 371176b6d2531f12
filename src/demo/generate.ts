// Generation for the demo: which records each method writes for, and one method's predictions file.
import { availableParallelism } from "node:os";
import type { BaselineKind } from "../baselines/index.ts";
import type { PersonalRecord } from "../data/index.ts";
import { coconutDecodingOf, generateForRecords, referenceLengthMinimum, type RecordPrediction } from "../flythinker/generate-records.ts";
import { cotPrompt } from "../train/cot.ts";
import { loadAnyModel } from "../flythinker/model.ts";
import { atomicWriteBytes } from "../util/files.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import type { Progress } from "./progress.ts";

/**
 * Up to `n` records spread over the users (0: all): the users in order of first appearance, then each user's
 * first record, each user's second record, and so on. The result keeps the file order.
 */
export function spreadOverUsers(records: readonly PersonalRecord[], n: number): PersonalRecord[] {
  if (n <= 0 || n >= records.length) return [...records];
  const byUser = new Map<string, number[]>();
  records.forEach((r, i) => {
    const list = byUser.get(r.user);
    if (list) list.push(i);
    else byUser.set(r.user, [i]);
  });
  const chosen: number[] = [];
  for (let round = 0; chosen.length < n; round++) {
    for (const list of byUser.values()) {
      if (round < list.length) chosen.push(list[round]!);
      if (chosen.length === n) break;
    }
  }
  return chosen.sort((a, b) => a - b).map((i) => records[i]!);
}

export interface MethodGeneration {
  /** A model folder (plain HF folder for the baselines, a training output for SFT / FlyThinker). */
  modelDir: string;
  baseline?: BaselineKind;
  /** The CoS strength (with baseline "cos"). */
  cosLambda?: number;
  /** Prompt options for a plain model (trained folders use the ones they were trained with). */
  prompt: PromptBuildOptions;
  maxNewTokens: number;
  /**
   * "reference": each text runs to at least min(maxNewTokens, its reference's token count) before a stop id may end
   * it, so a short text does not leave the later positions of the position analysis empty.
   */
  minNewTokens?: "reference";
  temperature: number;
  topP: number;
  seed: number;
  /** Records decoded together. */
  batch: number;
  /**
   * CoT and Coconut: tokens allowed (and, with minNewTokens, required) on top of the answer's, for the rationale and
   * the separator they write before it (only the text after the separator is scored).
   */
  reasoningTokens?: number;
  /** ONNX Runtime threads of the Generator (default: all cores; one less for FlyThinker, whose Reasoner gets one). */
  threads?: number;
}

/** Generates for every record and writes `file` (JSONL, one prediction a line). */
export async function generateMethod(
  file: string,
  records: readonly PersonalRecord[],
  g: MethodGeneration,
  progress?: Progress,
): Promise<RecordPrediction[]> {
  const { model, tok, trainedPrompt, trained } = loadAnyModel(g.modelDir);
  const fly = model.pair.reasoner !== undefined;
  const method = trained?.manifest.method;
  const reasoned = method === "cot" || method === "coconut";
  const extra = reasoned ? (g.reasoningTokens ?? 0) : 0;
  const prompt = trainedPrompt ?? g.prompt;
  const cores = availableParallelism();
  const out: RecordPrediction[] = [];
  let tokens = 0;
  const t0 = performance.now();
  for await (const p of generateForRecords(model, tok, records, {
    temperature: g.temperature,
    topP: g.topP,
    maxNewTokens: g.maxNewTokens + extra,
    ...(g.minNewTokens === "reference" ? { minNewTokens: referenceLengthMinimum(tok, g.maxNewTokens, extra) } : {}),
    seed: g.seed,
    mode: "parallel",
    prompt: reasoned ? cotPrompt(prompt) : prompt,
    cot: method === "cot",
    ...(method === "coconut" && trained ? { coconut: coconutDecodingOf(trained.manifest, tok) } : {}),
    baseline: g.baseline,
    cosLambda: g.cosLambda,
    // Parallel FlyThinker: the Reasoner gets a core of its own; otherwise the Generator uses them all.
    generatorThreads: g.threads ?? (fly ? Math.max(1, cores - 1) : cores),
    reasonerThreads: 1,
    batch: g.batch,
  })) {
    out.push(p);
    tokens += p.new_tokens;
    progress?.update(out.length, `${(tokens / ((performance.now() - t0) / 1000)).toFixed(0)} tok/s`);
  }
  atomicWriteBytes(file, out.map((p) => JSON.stringify(p)).join("\n") + (out.length ? "\n" : ""));
  return out;
}
