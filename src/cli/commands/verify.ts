// `flythinker verify`: the training graph, sequential decoding and parallel decoding of a trained model give the same
// logits on real records (docs/method.md, Why the paths agree).
import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { addPromptFlags, promptOptionsFromFlags, type PromptFlags } from "../prompt-flags.ts";
import { readDatasetSplits, readJsonl, type PersonalRecord, type Split } from "../../data/index.ts";
import { comparePaths, type PathDifferences } from "../../flythinker/verify.ts";
import { readTrainedModel } from "../../flythinker/trained-folder.ts";
import { sharedVocab } from "../../flythinker/graph.ts";
import { endOfTargetId, recordPrompt } from "../../data/prompt-ids.ts";
import { TextTokenizer } from "../../tokenizer/tokenizer.ts";
import { UserError } from "../../util/errors.ts";
import { intFlag, numberFlag } from "../flags.ts";

interface VerifyFlags extends PromptFlags {
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
  addPromptFlags(cmd).action(async (flags: VerifyFlags) => {
    const model = readTrainedModel(flags.model);
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
    const results: (PathDifferences & { id: string; prompt_tokens: number; target_tokens: number })[] = [];
    for (const c of cases) {
      const d = await comparePaths(model, c.prompt, c.target);
      results.push({ id: c.id, prompt_tokens: c.prompt.length, target_tokens: c.target.length, ...d });
    }
    const worst = Math.max(...results.flatMap((r) => [r.training_vs_sequential, r.training_vs_parallel, r.sequential_vs_parallel]));
    const ok = worst <= tolerance;
    if (flags.json) {
      console.log(JSON.stringify({ method: model.manifest.method, tolerance, max_abs_diff: worst, ok, records: results }, null, 2));
    } else {
      console.log(`model ${flags.model} (${model.manifest.method}); max |logit difference| per pair of paths:`);
      console.log("record                          tokens  train~seq   train~par   seq~par");
      for (const r of results) {
        const f = (x: number) => x.toExponential(2).padStart(10);
        console.log(`${r.id.slice(0, 30).padEnd(30)} ${String(r.prompt_tokens + r.target_tokens).padStart(7)} ${f(r.training_vs_sequential)}  ${f(r.training_vs_parallel)}  ${f(r.sequential_vs_parallel)}`);
      }
      console.log(ok ? `OK: all within ${tolerance}` : `FAILED: ${worst} exceeds ${tolerance}`);
    }
    if (!ok) process.exitCode = 1;
  });
}
