// Decode latency of CoS (context steering) against RAG, measured in one run: the same random reference-preset model,
// the paper's sampling (temperature 0.8, top-p 0.95), one record at a time (batch 1) and a fixed output length (no
// stop id, so every run writes exactly `newTokens` tokens). RAG decodes its prompt with history as one row; CoS decodes
// it together with the shorter prompt without history as two tied rows of one batch, steered per step. Both go through
// the generation session exactly as `generate --data` does.
import { availableParallelism } from "node:os";
import { presetConfig } from "../model/config.ts";
import { initWeights } from "../model/init.ts";
import { PairDecoder, type PairWeights } from "../flythinker/decode.ts";
import { DEFAULT_FUSION } from "../flythinker/fusion.ts";
import { PAPER_SAMPLING } from "../flythinker/generate-records.ts";
import { cosProcessors, cosRows } from "../baselines/index.ts";
import { generateRows, type GenerateOptions } from "../model/generation/session.ts";
import { Rng } from "../util/random.ts";
import { median, round } from "./stats.ts";

export interface CosDecodeBenchOptions {
  /** Tokens of the prompt with history (RAG's), default 192. */
  promptTokens?: number;
  /** Tokens of the prompt without it (the query), default 32. */
  queryTokens?: number;
  /** Tokens generated per run (default 64). */
  newTokens?: number;
  /** Timed rounds, each decoding once with RAG and once with CoS (default 9; one more untimed to warm up). */
  runs?: number;
  threads?: number;
  lambda?: number;
  log?: (line: string) => void;
}

export interface CosDecodeBench {
  model: string;
  threads: number;
  prompt_tokens: number;
  query_tokens: number;
  new_tokens: number;
  runs: number;
  lambda: number;
  /** Mean ms per generated token of a run (prefill excluded), median over runs. */
  rag_ms_per_token: number;
  cos_ms_per_token: number;
  /** cos_ms_per_token / rag_ms_per_token (target <= 1.5 on 2 cores). */
  ratio: number;
  /** Median of the per-round ratios (each CoS run over the RAG run just before it). */
  ratio_per_round: number;
  /** Median single-token times. */
  rag_p50_ms: number;
  cos_p50_ms: number;
}

/** Mean ms per token of one generation (first token excluded: it carries the prefill) and each token's time. */
async function timeOne(decoder: PairDecoder, prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<{ mean: number; each: number[] }> {
  const stamps: number[] = [];
  const it = generateRows(decoder, prompts, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) break;
    if (r.value.row === 0 && r.value.piece.id !== null) stamps.push(performance.now());
  }
  const each = stamps.slice(1).map((t, k) => t - stamps[k]!);
  return { mean: (stamps[stamps.length - 1]! - stamps[0]!) / (stamps.length - 1), each };
}

export async function benchCosDecode(options: CosDecodeBenchOptions = {}): Promise<CosDecodeBench> {
  const promptTokens = options.promptTokens ?? 192;
  const queryTokens = options.queryTokens ?? 32;
  const newTokens = options.newTokens ?? 64;
  const runs = options.runs ?? 9;
  const threads = options.threads ?? availableParallelism();
  const lambda = options.lambda ?? 1;
  const log = options.log ?? (() => {});
  if (newTokens < 2) throw new Error("the CoS bench needs at least 2 new tokens");
  const config = presetConfig("reference");
  const model: PairWeights = { pair: { generator: config, fusion: DEFAULT_FUSION }, generator: initWeights(config, { seed: 1 }) };
  const rng = new Rng(7);
  const query = Array.from({ length: queryTokens }, () => rng.int(config.vocabSize));
  const history = Array.from({ length: promptTokens - queryTokens }, () => rng.int(config.vocabSize));
  const withHistory = [...history, ...query];
  const cos = cosRows([withHistory], [query]);
  const base: GenerateOptions = { ...PAPER_SAMPLING, maxNewTokens: newTokens, eosIds: [] };
  log(`${newTokens} tokens after a ${promptTokens}-token prompt (CoS: and a ${queryTokens}-token one), ${threads} threads, median of ${runs} rounds`);

  const decoder = await PairDecoder.create(model, { generatorThreads: threads });
  const rag: { mean: number; each: number[] }[] = [];
  const steered: { mean: number; each: number[] }[] = [];
  try {
    for (let r = 0; r <= runs; r++) {
      const seed = r;
      const a = await timeOne(decoder, [withHistory], { ...base, seed });
      const b = await timeOne(decoder, cos.prompts, { ...base, seed, tiedTo: cos.tiedTo, processors: cosProcessors(PAPER_SAMPLING, lambda) });
      if (r === 0) continue; // warm-up
      rag.push(a);
      steered.push(b);
      log(`round ${r}/${runs}: RAG ${a.mean.toFixed(3)} ms/token, CoS ${b.mean.toFixed(3)} ms/token`);
    }
  } finally {
    await decoder.close();
  }
  const ragMs = median(rag.map((x) => x.mean));
  const cosMs = median(steered.map((x) => x.mean));
  const describe = `reference d${config.hiddenSize} L${config.numLayers} V${config.vocabSize}`;
  return {
    model: describe,
    threads,
    prompt_tokens: promptTokens,
    query_tokens: queryTokens,
    new_tokens: newTokens,
    runs,
    lambda,
    rag_ms_per_token: round(ragMs, 4),
    cos_ms_per_token: round(cosMs, 4),
    ratio: round(cosMs / ragMs, 3),
    ratio_per_round: round(median(steered.map((x, i) => x.mean / rag[i]!.mean)), 3),
    rag_p50_ms: round(median(rag.flatMap((x) => x.each)), 4),
    cos_p50_ms: round(median(steered.flatMap((x) => x.each)), 4),
  };
}

export function cosDecodeTable(r: CosDecodeBench): string {
  return [
    `${r.model}, ${r.threads} threads; ${r.new_tokens} tokens after ${r.prompt_tokens} (CoS: and ${r.query_tokens}), lambda ${r.lambda}, median of ${r.runs}`,
    `RAG  ${r.rag_ms_per_token.toFixed(3)} ms/token (1 row)`,
    `CoS  ${r.cos_ms_per_token.toFixed(3)} ms/token (2 tied rows) = ${r.ratio.toFixed(2)}x RAG (target <= 1.5); per round ${r.ratio_per_round.toFixed(2)}x`,
    `median single token: RAG ${r.rag_p50_ms.toFixed(3)} ms, CoS ${r.cos_p50_ms.toFixed(3)} ms`,
  ].join("\n");
}
