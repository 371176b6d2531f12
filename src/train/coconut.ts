// Coconut's part of a training run (`train --method coconut --init COT_RUN`): the CoT run it starts from (its
// Generator with the three marker tokens added, its prompt options and its rationale provider), each record's
// target cut into reasoning steps and the answer, the stage-k examples of the curriculum and their batches, and
// the stages' metrics joined into one log. Each stage is one Trainer run (run.ts) with its own AdamW (the optimiser
// is reset at every stage) and its own compiled graph (n = c * stage latent slots is static within a stage).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { COT_PREFIX, COT_SEPARATOR } from "../baselines/cot.ts";
import { coconutBatch } from "../baselines/coconut/batch.ts";
import { buildCoconutLossGraph } from "../baselines/coconut/graph.ts";
import { type LatentTokens, type StageOptions, stageExample, stagePlan } from "../baselines/coconut/layout.ts";
import { addLatentMarkers, latentTokensOf } from "../baselines/coconut/markers.ts";
import { type CotOptions, DEFAULT_COT } from "../baselines/rationales.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import type { PersonalRecord } from "../data/record.ts";
import { MANIFEST_FILE, readManifest } from "../flythinker/manifest.ts";
import type { PairConfig } from "../flythinker/graph.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import type { Batch, Example, PackOptions } from "./batching.ts";
import type { MetricRow } from "./metrics.ts";

/** Coconut's options (recorded in the run's config and its manifest). */
export interface CoconutOptions {
  /** The `train --method cot` folder the run starts from. */
  init: string;
  /** Latent slots per replaced reasoning step. */
  c: number;
  /** Stages 1..maxLatentStage replace the first k steps by k * c slots. */
  maxLatentStage: number;
  epochsPerStage: number;
  /** After the last latent stage, one more stage drops every remaining step (keeping maxLatentStage * c slots). */
  finalStage: boolean;
  /** The stage being trained (set by the run for each stage's Trainer; the output folder's last stage). */
  stage?: number;
}

export const DEFAULT_COCONUT: Readonly<Omit<CoconutOptions, "init">> = { c: 1, maxLatentStage: 3, epochsPerStage: 1, finalStage: true };

/** Checks the options; errors name the command-line flag. */
export function checkCoconutOptions(o: CoconutOptions): CoconutOptions {
  if (typeof o.init !== "string" || o.init === "") throw new UserError("--method coconut needs --init COT_RUN (a folder written by `flythinker train --method cot`)");
  if (!Number.isInteger(o.c) || o.c < 1) throw new UserError(`--c must be an integer >= 1, got ${o.c}`);
  if (!Number.isInteger(o.maxLatentStage) || o.maxLatentStage < 1) throw new UserError(`--max-latent-stage must be an integer >= 1, got ${o.maxLatentStage}`);
  if (!Number.isInteger(o.epochsPerStage) || o.epochsPerStage < 1) throw new UserError(`--epochs-per-stage must be an integer >= 1, got ${o.epochsPerStage}`);
  return o;
}

/** The curriculum's stages in order: 1..maxLatentStage, then maxLatentStage + 1 (every step dropped) when finalStage. */
export function coconutStages(o: Pick<CoconutOptions, "maxLatentStage" | "finalStage">): number[] {
  const n = o.maxLatentStage + (o.finalStage ? 1 : 0);
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Latent slots at a stage: c * min(stage, maxLatentStage). */
export function latentsAt(o: Pick<CoconutOptions, "c" | "maxLatentStage">, stage: number): number {
  return stagePlan(stage, 0, o).latents;
}

/** What the CoT run recorded that Coconut reuses. */
export interface CotRun {
  dir: string;
  /** Its Generator folder (HF layout). */
  generatorDir: string;
  /** Its rationale provider's options (built-in style summary, or the --rationales file). */
  cot: CotOptions;
  /** The prompt options it trained with (REST-PG's instruction included). */
  prompt: PromptBuildOptions;
}

/** Reads the `--init` folder; a UserError says what was expected when it is not a CoT run. */
export function readCotRun(dir: string): CotRun {
  const expected = `--init ${dir}: expected a folder written by \`flythinker train --method cot\``;
  if (!existsSync(join(dir, MANIFEST_FILE))) throw new UserError(`${expected} (no ${MANIFEST_FILE} there)`);
  const m = readManifest(dir);
  if (m.method !== "cot") throw new UserError(`${expected}; ${join(dir, MANIFEST_FILE)} says method "${m.method}"`);
  const t = m.training as { cot?: CotOptions; prompt?: PromptBuildOptions };
  return { dir, generatorDir: join(dir, m.generator), cot: t.cot ?? { ...DEFAULT_COT }, prompt: t.prompt ?? {} };
}

/**
 * The CoT Generator with the markers added, written to `baseDir` (rebuilt on every run: the result depends on the
 * CoT folder alone). A tokenizer that already has tokens named like the markers is refused with their ids.
 */
export function markedGenerator(run: CotRun, baseDir: string): { dir: string; tokens: LatentTokens } {
  addLatentMarkers(run.generatorDir, baseDir, { overwrite: true });
  return { dir: baseDir, tokens: latentTokensOf(TextTokenizer.fromDir(baseDir)) };
}

/** A record's CoT target in pieces: the reasoning steps (the prefix goes with the first) and the answer. */
export interface CotPieces {
  steps: string[];
  answer: string;
}

/**
 * CoT's target text (formatCot of the steps as bullets) cut into pieces whose concatenation is that text: step 1
 * carries COT_PREFIX, each later step its line break, the answer piece the separator (so a stage that drops every
 * step still ends with "separator, answer", which generation parses). No steps: the prefix goes with the answer.
 */
export function cotPieces(steps: readonly string[], answer: string): CotPieces {
  const tail = `\n\n${COT_SEPARATOR} ${answer}`;
  if (steps.length === 0) return { steps: [], answer: `${COT_PREFIX}\n${tail}` };
  return { steps: steps.map((s, i) => (i === 0 ? `${COT_PREFIX}\n- ${s}` : `\n- ${s}`)), answer: tail };
}

/**
 * A targetOf hook (train/examples.ts) that builds CoT's target as the CoT run did and keeps each record's pieces by
 * record id for the stage examples.
 */
export function capturingTargetOf(rationaleOf: (r: PersonalRecord, shown: readonly number[], y: string) => string[], into: Map<string, CotPieces>) {
  return (record: PersonalRecord, shown: readonly number[], response: string): string => {
    const p = cotPieces(rationaleOf(record, shown, response), response);
    into.set(record.id, p);
    return p.steps.join("") + p.answer;
  };
}

/**
 * The stage-k examples of CoT examples (their prompt is the question; their target's pieces are in `pieces` by id).
 * `end` is the token that closes the target (null: none).
 */
export function stageExamples(examples: readonly Example[], pieces: ReadonlyMap<string, CotPieces>, tok: TextTokenizer, tokens: LatentTokens, o: StageOptions): Example[] {
  const enc = (s: string) => tok.encode(s, { addSpecialTokens: false });
  return examples.map((e, i) => {
    const p = e.id !== undefined ? pieces.get(e.id) : undefined;
    if (!p) throw new UserError(`coconut: example ${e.id ?? `#${i}`} has no reasoning steps (Coconut trains on dataset records)`);
    const x = stageExample(e.promptIds, p.steps.map(enc), enc(p.answer), tokens, o, e.id);
    return { id: x.id, promptIds: x.promptIds, targetIds: x.targetIds, latentStart: x.latentStart, latentCount: x.latentCount };
  });
}

/** A micro-batch of stage examples (all with the same number of slots): coconutBatch's feeds. */
export function makeCoconutBatch(examples: readonly Example[], indices: readonly number[], opts: PackOptions): Batch {
  const list = indices.map((i) => {
    const e = examples[i]!;
    if (e.latentStart === undefined || e.latentCount === undefined) throw new Error(`example ${e.id ?? `#${i}`} is not a Coconut stage example`);
    return { ...e, latentStart: e.latentStart, latentCount: e.latentCount };
  });
  const b = coconutBatch(list, opts.padId ?? 0);
  const tokens = list.reduce((n, e) => n + e.promptIds.length + e.targetIds.length, 0);
  return { rows: b.rows, seq: b.prefix + b.latents + b.tail, ids: new BigInt64Array(0), labels: new BigInt64Array(0), feeds: b.feeds, tokens, scored: b.scored };
}

export const COCONUT_INPUTS = ["prefix_ids", "prefix_mask", "prefix_positions", "tail_ids", "labels"] as const;

/** The stage's KV-reuse training graph over the Generator's parameters ("generator." names, as SFT's graph). */
export function coconutTrainGraph(pair: PairConfig, headChunk: number, o: CoconutOptions | undefined) {
  if (!o || o.stage === undefined) throw new Error("coconut: the training config has no stage (config.coconut.stage)");
  const lg = buildCoconutLossGraph(pair.generator, { latents: latentsAt(o, o.stage), headChunk, paramPrefix: "generator.", mode: "kv" });
  return { graph: lg.graph, loss: lg.loss, count: lg.count, generator: lg.params };
}

/** One metrics row of the whole run: the stage's row with the run's step, the stage and the stage's own step. */
export interface StageMetricRow extends MetricRow {
  stage: number;
  stage_step: number;
}

/** The stages' rows joined: steps continue across stages. */
export function joinStageMetrics(stages: readonly { stage: number; rows: readonly MetricRow[] }[]): StageMetricRow[] {
  const out: StageMetricRow[] = [];
  for (const s of stages) {
    const base = out.length;
    for (const r of s.rows) out.push({ ...r, step: base + r.step, stage: s.stage, stage_step: r.step });
  }
  return out;
}
