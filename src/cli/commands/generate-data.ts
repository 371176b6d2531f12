// `flythinker generate --data`: predictions for every record of a dataset split, with any kind of model folder:
// a plain HF model (optionally with a baseline prompt), an SFT output or a FlyThinker output (parallel or sequential);
// `--stop` strings cut each prediction, and the model's stop ids end it.
import { promptOptionsFromFlags, type PromptFlags } from "../prompt-flags.ts";
import { parseBaselineKind } from "../../baselines/index.ts";
import { generateForRecords, PAPER_SAMPLING, type RecordPrediction } from "../../flythinker/generate-records.ts";
import type { DecodeMode } from "../../flythinker/decode.ts";
import { loadAnyModel } from "../../flythinker/model.ts";
import { atomicWriteBytes } from "../../util/files.ts";
import { UserError } from "../../util/errors.ts";
import { readRecords } from "./verify.ts";
import { quantizeFromFlags } from "../quantize-flags.ts";
import { providersFromFlags } from "../device-flags.ts";
import type { GenerateFlags } from "./model.ts";

export async function generateForData(o: GenerateFlags & PromptFlags, explicitPromptFlags = false): Promise<void> {
  if (!o.model) throw new UserError("generate needs --model DIR");
  if (!o.out) throw new UserError("generate --data needs --out FILE (predictions JSONL)");
  const quantize = quantizeFromFlags(o);
  const { model, tok, trainedPrompt, kind } = loadAnyModel(o.model, quantize ? { quantize } : {});
  const baseline = o.baseline !== undefined ? parseBaselineKind(o.baseline) : undefined;
  if (baseline && kind !== "model") throw new UserError(`--baseline is for plain model folders; ${o.model} is a trained ${kind} output`);
  let records = await readRecords(o.data!, o.split);
  if (o.limit !== undefined) {
    if (!/^\d+$/.test(o.limit)) throw new UserError(`--limit must be a non-negative integer, got "${o.limit}"`);
    records = records.slice(0, Number(o.limit));
  }
  const prompt = trainedPrompt && !explicitPromptFlags ? trainedPrompt : promptOptionsFromFlags(o);
  const num = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const x = Number(v);
    if (!Number.isFinite(x)) throw new UserError(`${flag} must be a number, got "${v}"`);
    return x;
  };
  const maxNewTokens = num(o.maxNewTokens, "--max-new-tokens") ?? 256;
  const mode = o.mode as DecodeMode;
  const fly = model.pair.reasoner !== undefined;
  const threads = num(o.threads, "--threads");
  const batch = o.batch === undefined ? 8 : Number(o.batch);
  if (!Number.isInteger(batch) || batch < 1) throw new UserError(`--batch must be a positive integer, got "${o.batch}"`);
  const predictions: RecordPrediction[] = [];
  const t0 = performance.now();
  let tokens = 0;
  for await (const p of generateForRecords(model, tok, records, {
    ...PAPER_SAMPLING,
    temperature: num(o.temperature, "--temperature") ?? PAPER_SAMPLING.temperature,
    topP: num(o.topP, "--top-p") ?? PAPER_SAMPLING.topP,
    topK: num(o.topK, "--top-k") ?? 0,
    repetitionPenalty: num(o.repetitionPenalty, "--repetition-penalty") ?? 1,
    greedy: o.greedy === true,
    maxNewTokens,
    seed: num(o.seed, "--seed") ?? 0,
    mode,
    prompt,
    baseline,
    stopStrings: o.stop,
    generatorThreads: threads,
    ...(providersFromFlags(o) ? { providers: providersFromFlags(o)! } : {}),
    batch,
  })) {
    predictions.push(p);
    tokens += p.new_tokens;
    const s = (performance.now() - t0) / 1000;
    const eta = (s / predictions.length) * (records.length - predictions.length);
    process.stderr.write(
      `\r[${predictions.length}/${records.length}] ${(tokens / s).toFixed(1)} tokens/s, ETA ${eta.toFixed(0)} s   `,
    );
  }
  process.stderr.write("\n");
  atomicWriteBytes(o.out, predictions.map((p) => JSON.stringify(p)).join("\n") + (predictions.length ? "\n" : ""));
  const label = baseline ? `${kind} + ${baseline} prompt` : fly ? `FlyThinker (${mode})` : kind;
  console.log(`wrote ${predictions.length} predictions (${label}) to ${o.out}`);
}
