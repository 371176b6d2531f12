// `flythinker generate --data`: predictions for every record of a dataset split, with any kind of model folder:
// a plain HF model (optionally with a tuning-free baseline: non-pers, rag, cos), an SFT output or a FlyThinker output
// (parallel or sequential);
// `--stop` strings cut each prediction, and the model's stop ids end it.
//
// Nothing finished is lost: --out is locked and checked writable before the first record, every prediction is
// appended to OUT.partial and flushed, and OUT.partial becomes OUT at the end (util/resumable-jsonl.ts). --resume
// continues an unfinished run with the same options. --shard I/N takes the I-th of N contiguous runs of whole
// batches, so that the N outputs joined in shard order (`flythinker merge`) are the unsharded output byte for byte.
import { createHash } from "node:crypto";
import { dirname, resolve } from "node:path";
import { promptOptionsFromFlags, type PromptFlags } from "../prompt-flags.ts";
import { intFlag, optionalInt, optionalNumber, shardFlag } from "../flags.ts";
import { parseBaselineKind, parseCosLambda } from "../../baselines/index.ts";
import { DEFAULT_COS_LAMBDA, coconutDecodingOf, generateForRecords, PAPER_SAMPLING, type RecordPrediction } from "../../flythinker/generate-records.ts";
import type { DecodeMode } from "../../flythinker/decode.ts";
import { loadAnyModel, trainedSummaries } from "../../flythinker/model.ts";
import { methodLabel } from "../../flythinker/manifest.ts";
import type { PromptBuildOptions } from "../../data/prompt-ids.ts";
import { statSync } from "node:fs";
import type { PersonalRecord } from "../../data/index.ts";
import { acquireOutputLock } from "../../util/lock.ts";
import { checkWritableFolder, openResumableJsonl, partialFile } from "../../util/resumable-jsonl.ts";
import { cotPrompt } from "../../train/cot.ts";
import { UserError } from "../../util/errors.ts";
import { readRecords } from "./verify.ts";
import { quantizeFromFlags } from "../quantize-flags.ts";
import { providersFromFlags } from "../device-flags.ts";
import type { GenerateFlags } from "./model.ts";

/** The written line of a prediction: everything but its timing, so that two runs of the same work are identical. */
export function predictionLine(p: RecordPrediction): Omit<RecordPrediction, "ms_per_token"> {
  const { ms_per_token: _timing, ...line } = p;
  return line;
}

export const idsDigest = (ids: readonly string[]): string => createHash("sha256").update(JSON.stringify(ids)).digest("hex");

export interface ShardSlice {
  /** Index of the slice's first record in the whole list (a multiple of the batch). */
  first: number;
  records: PersonalRecord[];
}

/**
 * The I-th of N shards: the whole list is cut into batches of `batch` records, and shard I takes batches
 * [floor(I*B/N), floor((I+1)*B/N)) of the B batches, so every shard decodes exactly the batches an unsharded run does.
 */
export function shardSlice(records: readonly PersonalRecord[], batch: number, index: number, count: number): ShardSlice {
  const blocks = Math.ceil(records.length / batch);
  const from = Math.floor((index * blocks) / count) * batch;
  const to = Math.min(records.length, Math.floor(((index + 1) * blocks) / count) * batch);
  return { first: from, records: records.slice(from, to) };
}

export async function generateForData(o: GenerateFlags & PromptFlags, explicitPromptFlags = false): Promise<void> {
  if (!o.model) throw new UserError("generate needs --model DIR");
  if (!o.out) throw new UserError("generate --data needs --out FILE (predictions JSONL)");
  const out = o.out;
  const batch = intFlag(o.batch ?? "8", "--batch", { min: 1 });
  const maxNewTokens = intFlag(o.maxNewTokens ?? "256", "--max-new-tokens", { min: 1 });
  const sampling = {
    temperature: optionalNumber(o.temperature, "--temperature", { min: 0 }) ?? PAPER_SAMPLING.temperature!,
    topP: optionalNumber(o.topP, "--top-p") ?? PAPER_SAMPLING.topP!,
    topK: optionalInt(o.topK, "--top-k", { min: 0 }) ?? 0,
    repetitionPenalty: optionalNumber(o.repetitionPenalty, "--repetition-penalty", { min: 0 }) ?? 1,
    greedy: o.greedy === true,
    seed: intFlag(o.seed ?? "0", "--seed", { min: 0 }),
  };
  const threads = optionalInt(o.threads, "--threads", { min: 1 });
  const limit = optionalInt(o.limit, "--limit", { min: 0 });
  const shard = typeof o.shard === "string" ? shardFlag(o.shard) : { index: 0, count: 1 };
  const mode = o.mode as DecodeMode;
  const skipBad = o.skipBad === true;

  // Lock and check the output before the (slow) model load, so a bad --out fails at once.
  checkWritableFolder(dirname(resolve(out)), "--out");
  const lock = acquireOutputLock(out, { command: "generate", force: o.force === true });
  try {
    const quantize = quantizeFromFlags(o);
    const { model, tok, trainedPrompt, kind: folderKind, trained } = loadAnyModel(o.model, quantize ? { quantize } : {});
    // a Generator trained by some method is named by the method and its options
    const kind = trained && trained.manifest.method !== "flythinker" ? methodLabel(trained.manifest) : folderKind;
    const baseline = o.baseline !== undefined ? parseBaselineKind(o.baseline) : undefined;
    if (baseline && kind !== "model") throw new UserError(`--baseline is for plain model folders; ${o.model} is a trained ${kind} output`);
    if (o.cosLambda !== undefined && baseline !== "cos") throw new UserError("--cos-lambda needs --baseline cos");
    const cosLambda = o.cosLambda !== undefined ? parseCosLambda(o.cosLambda) : DEFAULT_COS_LAMBDA;
    let all = await readRecords(o.data!, o.split);
    if (limit !== undefined) all = all.slice(0, limit);
    if (all.length === 0) throw new UserError(`--data ${o.data}: no records to generate for (split ${o.split})`);
    let prompt: PromptBuildOptions = trainedPrompt && !explicitPromptFlags ? trainedPrompt : promptOptionsFromFlags(o);
    const summaries = o.summaries as string | undefined;
    if (summaries !== undefined && !trained) throw new UserError("--summaries is for LLM-TRSR models (a folder written by `flythinker train --method llm-trsr`)");
    // LLM-TRSR: each record's history summary, as training made it (cached in the dataset folder).
    const summaryOf = trained ? trainedSummaries(trained, tok, all, { summaries, cacheDir: statSync(o.data!).isDirectory() ? o.data : undefined }) : undefined;
    if (summaryOf) prompt = { ...prompt, summaryOf };
    // CoT: REST-PG's instruction stays in the prompt when prompt flags replace the trained ones.
    const reasoned = trained?.manifest.method === "cot" || trained?.manifest.method === "coconut";
    if (reasoned) prompt = cotPrompt(prompt);
    const coconut = trained ? coconutDecodingOf(trained.manifest, tok) : undefined;
    const slice = shardSlice(all, batch, shard.index, shard.count);
    const run = {
      format: "flythinker-predictions/1",
      model: resolve(o.model),
      kind,
      baseline: baseline ?? null,
      ...(baseline === "cos" ? { cos_lambda: cosLambda } : {}),
      data: resolve(o.data!),
      split: o.split,
      data_records: all.length,
      data_ids_sha256: idsDigest(all.map((r) => r.id)),
      shard: shard.count > 1 ? shard : null,
      mode,
      batch,
      max_new_tokens: maxNewTokens,
      sampling,
      stop: o.stop,
      prompt,
    };
    const writer = openResumableJsonl(out, run, { resume: o.resume === true, discard: o.force === true });
    const label = baseline === "cos" ? `${kind} + cos, lambda ${cosLambda}` : baseline ? `${kind} + ${baseline} prompt` : model.pair.reasoner !== undefined ? `FlyThinker (${mode})` : kind;
    if (writer.complete) {
      console.log(`${out} is already complete (${writer.done.length} predictions, ${label})`);
      return;
    }
    const done = new Set(writer.done.map((r) => String(r.id)));
    const position = new Map(slice.records.map((r, i) => [r.id, i] as const));
    let resumeAt = 0;
    for (const id of done) {
      const at = position.get(id);
      if (at === undefined) throw new UserError(`${partialFile(out)}: id "${id}" is not among the records of this run`);
      resumeAt = Math.max(resumeAt, at + 1);
    }
    // Restart at the start of the batch holding the first missing record, so every batch is the one an
    // uninterrupted run decodes; its records already written are not written again.
    const from = Math.floor(resumeAt / batch) * batch;
    const todo = slice.records.length - done.size;
    if (done.size > 0) process.stderr.write(`resuming ${out}: ${done.size} of ${slice.records.length} predictions already written\n`);
    // Records an earlier run of this output skipped stay listed (those it will meet again are listed once).
    const skipped: { id: string; reason: string }[] = Array.isArray(writer.progress.skipped) ? [...(writer.progress.skipped as { id: string; reason: string }[])] : [];
    const t0 = performance.now();
    let tokens = 0;
    let written = 0;
    let msSum = 0;
    let parseFailures = 0;
    try {
      for await (const p of generateForRecords(model, tok, slice.records.slice(from), {
        ...PAPER_SAMPLING,
        ...sampling,
        firstIndex: slice.first + from,
        maxNewTokens,
        mode,
        prompt,
        baseline,
        cosLambda,
        stopStrings: o.stop,
        generatorThreads: threads,
        ...(providersFromFlags(o) ? { providers: providersFromFlags(o)! } : {}),
        batch,
        onBadRecord: skipBad ? "skip" : "stop",
        cot: trained?.manifest.method === "cot",
        ...(coconut ? { coconut } : {}),
        onSkip: (id, reason) => {
          if (skipped.some((x) => x.id === id)) return;
          skipped.push({ id, reason });
          process.stderr.write(`\nskipped record "${id}": ${reason}\n`);
          writer.note({ skipped });
        },
      })) {
        if (done.has(p.id)) continue;
        writer.append(predictionLine(p));
        written++;
        if (p.parse_failed) parseFailures++;
        tokens += p.new_tokens;
        msSum += p.ms_per_token;
        const s = (performance.now() - t0) / 1000;
        const eta = (s / written) * Math.max(0, todo - written - skipped.length);
        process.stderr.write(`\r[${done.size + written}/${slice.records.length}] ${(tokens / s).toFixed(1)} tokens/s, ETA ${eta.toFixed(0)} s   `);
      }
    } catch (e) {
      writer.close();
      if (e instanceof UserError) {
        const kept = done.size + written;
        throw new UserError(
          `${e.message}\n${kept} predictions before it are kept in ${partialFile(out)}; fix the record and rerun with --resume, or pass --skip-bad`,
        );
      }
      throw e;
    }
    process.stderr.write("\n");
    writer.finish();
    const n = done.size + written;
    const speed = written > 0 ? `, ${(msSum / written).toFixed(1)} ms/token on average` : "";
    if (reasoned) console.log(`${trained!.manifest.method === "cot" ? "CoT" : "Coconut"}: ${parseFailures} of ${written} new predictions had no answer separator (scored on the whole output)`);
    console.log(`wrote ${n} predictions (${label}${shard.count > 1 ? `, shard ${shard.index}/${shard.count}` : ""}) to ${out}${speed}`);
    if (skipped.length > 0) {
      console.log(`skipped ${skipped.length} record${skipped.length > 1 ? "s" : ""} whose prompt could not be built: ${skipped.map((s) => s.id).join(", ")}`);
      process.exitCode = 1;
    }
  } finally {
    lock.release();
  }
}
