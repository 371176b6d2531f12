// `flythinker verify`: the training graph, sequential decoding and parallel decoding of a trained model give the same
// logits on real records (docs/method.md, Why the paths agree).
import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { addPromptFlags, promptOptionsFromFlags, type PromptFlags } from "../prompt-flags.ts";
import { readDatasetSplits, readJsonl, type PersonalRecord, type Split } from "../../data/index.ts";
import { comparePaths, compareQuantized, type PathDifferences, type QuantizedDifferences } from "../../flythinker/verify.ts";
import { quantizePair } from "../../flythinker/quantize-pair.ts";
import { addQuantizeFlags, quantizeFromFlags, type QuantizeFlags } from "../quantize-flags.ts";
import { readTrainedModel } from "../../flythinker/trained-folder.ts";
import { sharedVocab } from "../../flythinker/graph.ts";
import { endOfTargetId, recordPrompt } from "../../data/prompt-ids.ts";
import { TextTokenizer } from "../../tokenizer/tokenizer.ts";
import { UserError } from "../../util/errors.ts";
import { intFlag, numberFlag } from "../flags.ts";
import { compareCoconutPaths } from "../../baselines/coconut/verify.ts";
import { coconutDecodingOf } from "../../flythinker/generate-records.ts";
import { inferencePrompt } from "../../baselines/coconut/layout.ts";
import { floatPair } from "../../flythinker/decode.ts";

interface VerifyFlags extends PromptFlags, QuantizeFlags {
  model: string;
  data?: string;
  split: string;
  n: string;
  maxTarget: string;
  tolerance: string;
  json?: boolean;
}

/** Records of a dataset folder's split, or of a JSONL file. */
export async function readRecords(data: string, split: string): Promise<PersonalRecord[]> {
  if (!existsSync(data)) throw new UserError(`--data ${data}: no such file or folder`);
  if (statSync(data).isDirectory()) {
    const { splits } = await readDatasetSplits(data, { strict: true });
    const records = splits[split as Split];
    if (!records) throw new UserError(`${data}: no ${split}.jsonl`);
    return records;
  }
  return (await readJsonl(data, { strict: true })).records;
}

/** Latent slots of a Coconut folder's decoding prompt: c * min(stage, max). */
function promptLatents(o: { c: number; stage: number; maxLatentStage: number }): number {
  return o.c * Math.min(o.stage, o.maxLatentStage);
}

export function register(program: Command): void {
  const cmd = program
    .command("verify")
    .description("check that training-graph, sequential and parallel decoding logits agree on real records")
    .requiredOption("--model <dir>", "a folder written by `flythinker train`")
    .option("--data <dir|file>", "dataset folder or JSONL of records (default: random token sequences)")
    .option("--split <name>", "split of a dataset folder", "val")
    .option("--n <count>", "records to check", "3")
    .option("--max-target <tokens>", "response tokens compared per record", "32")
    .option("--tolerance <x>", "largest allowed absolute logit difference", "1e-4")
    .option("--json", "print JSON");
  addPromptFlags(addQuantizeFlags(cmd)).action(async (flags: VerifyFlags) => {
    const model = readTrainedModel(flags.model);
    const scheme = quantizeFromFlags(flags);
    const quantized = scheme ? quantizePair(model, scheme, flags.model) : undefined;
    const n = intFlag(flags.n, "--n", { min: 1 });
    const maxTarget = intFlag(flags.maxTarget, "--max-target", { min: 1 });
    const tolerance = numberFlag(flags.tolerance, "--tolerance", { min: 0 });
    const cases: { id: string; prompt: number[]; target: number[] }[] = [];
    if (flags.data) {
      const tok = TextTokenizer.fromDir(model.generatorDir);
      const opts = promptOptionsFromFlags(flags);
      const end = endOfTargetId(tok, model.pair.generator);
      for (const r of (await readRecords(flags.data, flags.split)).slice(0, n)) {
        const { promptIds, target } = recordPrompt(r, tok, opts);
        const targetIds = [...tok.encode(target, { addSpecialTokens: false }), ...(end === null ? [] : [end])];
        cases.push({ id: r.id, prompt: promptIds, target: targetIds.slice(0, maxTarget) });
      }
    } else {
      const V = sharedVocab(model.pair);
      for (let i = 0; i < n; i++) {
        const ids = Array.from({ length: 24 + maxTarget }, (_, j) => (i * 7919 + j * 104729) % V);
        cases.push({ id: `random-${i}`, prompt: ids.slice(0, 24), target: ids.slice(24) });
      }
    }
    const coconut = model.manifest.method === "coconut" ? coconutDecodingOf(model.manifest, TextTokenizer.fromDir(model.generatorDir)) : undefined;
    if (coconut) {
      if (scheme) throw new UserError("verify --quantize does not apply to a Coconut model");
      // The training graph (KV-reuse and unrolled builds) against decoding with the latent passes, at the last stage.
      const weights = floatPair(model, "verify").generator;
      const rows: { id: string; prompt_tokens: number; target_tokens: number; graph_vs_decoding: number; kv_vs_unrolled: number }[] = [];
      for (const c of cases) {
        const promptIds = inferencePrompt(c.prompt, coconut.tokens, coconut);
        const latentCount = promptIds.length - c.prompt.length - 2;
        const d = await compareCoconutPaths(model.pair.generator, weights, coconut.tokens, { id: c.id, promptIds, targetIds: c.target, latentStart: c.prompt.length + 1, latentCount });
        rows.push({ id: c.id, prompt_tokens: promptIds.length, target_tokens: c.target.length, graph_vs_decoding: d.graphVsDecode, kv_vs_unrolled: d.kvVsUnrolled });
      }
      const worstC = Math.max(...rows.flatMap((r) => [r.graph_vs_decoding, r.kv_vs_unrolled]));
      const okC = worstC <= tolerance;
      if (flags.json) console.log(JSON.stringify({ method: "coconut", tolerance, max_abs_diff: worstC, ok: okC, records: rows }, null, 2));
      else {
        console.log(`model ${flags.model} (coconut, ${promptLatents(coconut)} latent thoughts); max |logit difference| per pair of paths:`);
        console.log("record                          tokens  graph~decode  kv~unrolled");
        const f = (x: number) => x.toExponential(2).padStart(12);
        for (const r of rows) console.log(`${r.id.slice(0, 30).padEnd(30)} ${String(r.prompt_tokens + r.target_tokens).padStart(7)} ${f(r.graph_vs_decoding)} ${f(r.kv_vs_unrolled)}`);
        console.log(okC ? `OK: all within ${tolerance}` : `FAILED: ${worstC} exceeds ${tolerance}`);
      }
      if (!okC) process.exitCode = 1;
      return;
    }
    const results: (PathDifferences & Partial<QuantizedDifferences> & { id: string; prompt_tokens: number; target_tokens: number })[] = [];
    for (const c of cases) {
      const d = await comparePaths(model, c.prompt, c.target);
      const q = quantized ? await compareQuantized(model, quantized, c.prompt, c.target) : {};
      results.push({ id: c.id, prompt_tokens: c.prompt.length, target_tokens: c.target.length, ...d, ...q });
    }
    // The quantized pair's two decoding paths must agree as the float32 ones do; its distance to float32 is reported.
    const worst = Math.max(...results.flatMap((r) => [r.training_vs_sequential, r.training_vs_parallel, r.sequential_vs_parallel, r.quantized_sequential_vs_parallel ?? 0]));
    const ok = worst <= tolerance;
    const mean = (k: "nll_float" | "nll_quantized") => results.reduce((n, r) => n + (r[k] ?? 0), 0) / results.length;
    const quantSummary = quantized
      ? {
        quantize: scheme,
        max_logit_diff_to_float: Math.max(...results.map((r) => r.quantized_vs_float!)),
        max_relative_logit_diff_to_float: Math.max(...results.map((r) => r.quantized_vs_float_relative!)),
        mean_nll_float: mean("nll_float"),
        mean_nll_quantized: mean("nll_quantized"),
      }
      : {};
    if (flags.json) {
      console.log(JSON.stringify({ method: model.manifest.method, tolerance, max_abs_diff: worst, ok, ...quantSummary, records: results }, null, 2));
    } else {
      console.log(`model ${flags.model} (${model.manifest.method}); max |logit difference| per pair of paths:`);
      console.log("record                          tokens  train~seq   train~par   seq~par");
      for (const r of results) {
        const f = (x: number) => x.toExponential(2).padStart(10);
        console.log(`${r.id.slice(0, 30).padEnd(30)} ${String(r.prompt_tokens + r.target_tokens).padStart(7)} ${f(r.training_vs_sequential)}  ${f(r.training_vs_parallel)}  ${f(r.sequential_vs_parallel)}`);
      }
      if (quantized) {
        const q = quantSummary as { max_logit_diff_to_float: number; max_relative_logit_diff_to_float: number; mean_nll_float: number; mean_nll_quantized: number };
        console.log(
          `quantized (${flags.quantize}): sequential~parallel max ${Math.max(...results.map((r) => r.quantized_sequential_vs_parallel!)).toExponential(2)}; ` +
            `logits vs float32 max ${q.max_logit_diff_to_float.toExponential(2)} (${(100 * q.max_relative_logit_diff_to_float).toFixed(2)}% of the largest); ` +
            `mean NLL of the targets ${q.mean_nll_float.toFixed(4)} (float32) vs ${q.mean_nll_quantized.toFixed(4)} (${(100 * (q.mean_nll_quantized / q.mean_nll_float - 1)).toFixed(2)}%)`,
        );
      }
      console.log(ok ? `OK: all within ${tolerance}` : `FAILED: ${worst} exceeds ${tolerance}`);
    }
    if (!ok) process.exitCode = 1;
  });
}
