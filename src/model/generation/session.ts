// The generation session: one loop (decodeLoop) over any step model that owns everything between the logits and the
// text: the logits processors (from the sampling options, or a list given), the choice of each token (greedy, or a
// draw with the row's own seeded generator: row i of a batch uses seed + i), the stopping criteria (stop ids, stop
// strings, a token budget) and the streamed text of every row.
//
// Tied rows (`tiedTo`): a follower row takes every token its leader samples (e.g. the no-context stream of context
// steering); it feeds the model its own prompt and the shared tokens, streams nothing, and leaves the batch with its
// leader. Its result is its leader's.

import type { TextTokenizer } from "../../tokenizer/tokenizer.ts";
import { Rng } from "../../util/random.ts";
import { UserError } from "../../util/errors.ts";
import { isGreedy, validateSampling, type SamplingOptions } from "../sampling.ts";
import { argmax, drawToken } from "./pick.ts";
import { rowScores, samplingProcessors, type LogitsBatch, type LogitsProcessor } from "./processors.ts";
import { StoppingCriteria, type FinishReason } from "./stopping.ts";
import { TextAssembler } from "./text.ts";
import { decodeLoop, type StepModel } from "./step-model.ts";

export type { FinishReason } from "./stopping.ts";

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate per row (default 256). */
  maxNewTokens?: number;
  /**
   * Fewest tokens per row before a stop id may be drawn: one number for every row, or one per prompt (default 0).
   * The stop ids' scores are -Infinity until then, before any processor runs (so top-p renormalises without them);
   * stop strings and the token budget still end a row. A tied follower counts its leader's tokens.
   */
  minNewTokens?: number | readonly number[];
  /** Seed of the sampler; row i of a batch uses seed + i (default 0). */
  seed?: number;
  /** Each row's own seed (overrides seed + i), so a row's draws do not depend on its place in the batch. */
  rowSeeds?: readonly number[];
  /** Token ids that end a row (default none; see `stopIds` for a model's own). */
  eosIds?: readonly number[];
  /** Texts that end a row when they appear in its output (needs a tokenizer). */
  stopStrings?: readonly string[];
  /** Logits processors applied in order instead of those of the sampling options. */
  processors?: readonly LogitsProcessor[];
  /**
   * Per prompt: the prompt whose sampled tokens it takes (itself for a row that samples). A follower comes after its
   * leader, a leader has at most one follower, and a follower leads no row.
   */
  tiedTo?: readonly number[];
}

/** One streamed piece: the token just generated and the text that became final with it. */
export interface GeneratedPiece {
  /** The token id; null for the closing piece that carries text held back until the end. */
  id: number | null;
  text: string;
}

export interface GenerationResult {
  /** Generated ids (without the stop id). */
  ids: number[];
  /** Their text (empty without a tokenizer), cut before a stop string. */
  text: string;
  finishReason: FinishReason;
}

/** A row's piece; its last one carries why it finished. A stop id gives a piece with id null (and maybe no text). */
export interface BatchEvent {
  row: number;
  piece: GeneratedPiece;
  finish?: FinishReason;
}

interface RowState {
  rng: Rng;
  /** Prompt and generated ids (what the repetition penalty looks at). */
  history: number[];
  ids: number[];
  text: TextAssembler;
  finish: FinishReason | null;
}

/** Checks `tiedTo` against the prompts: the leader of each prompt, or null when every row samples. */
function checkTies(tiedTo: readonly number[] | undefined, rows: number): readonly number[] | null {
  if (tiedTo === undefined) return null;
  if (tiedTo.length !== rows) throw new UserError(`tiedTo has ${tiedTo.length} entries for ${rows} prompts`);
  const followers = new Set<number>();
  tiedTo.forEach((l, p) => {
    if (!Number.isInteger(l) || l < 0 || l > p) throw new UserError(`tiedTo[${p}] must be a prompt index in [0, ${p}], got ${l}`);
    if (l === p) return;
    if (tiedTo[l] !== l) throw new UserError(`tiedTo[${p}] = ${l} is itself a follower`);
    if (followers.has(l)) throw new UserError(`prompt ${l} leads more than one row`);
    followers.add(l);
  });
  return tiedTo;
}

/** Each prompt's minimum count of new tokens, or null when no row has one. */
function checkMinNewTokens(min: number | readonly number[] | undefined, rows: number): readonly number[] | null {
  if (min === undefined) return null;
  const list = typeof min === "number" ? new Array<number>(rows).fill(min) : min;
  if (list.length !== rows) throw new UserError(`minNewTokens has ${list.length} entries for ${rows} prompts`);
  list.forEach((m, r) => {
    if (!Number.isInteger(m) || m < 0) throw new UserError(`minNewTokens[${r}] must be an integer >= 0, got ${m}`);
  });
  return list.some((m) => m > 0) ? list : null;
}

/** The sampler's seed, after checking the sampling options (the token budget is checked by StoppingCriteria). */
export function checkOptions(opts: GenerateOptions): number {
  validateSampling(opts);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UserError(`seed must be an integer, got ${seed}`);
  return seed;
}

/**
 * Generates for a batch of prompts (ids) at once, yielding every row's pieces as they come; returns each row's
 * result. The model is restarted by the prefill.
 */
export async function* generateRows(
  model: StepModel,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions = {},
  tokenizer: TextTokenizer | null = null,
): AsyncGenerator<BatchEvent, GenerationResult[]> {
  const seed = checkOptions(opts);
  const tiedTo = checkTies(opts.tiedTo, prompts.length);
  if (opts.rowSeeds !== undefined && (opts.rowSeeds.length !== prompts.length || !opts.rowSeeds.every(Number.isInteger))) {
    throw new UserError(`rowSeeds must hold one integer per prompt (${prompts.length}), got ${opts.rowSeeds.length}`);
  }
  const minNew = checkMinNewTokens(opts.minNewTokens, prompts.length);
  const stops = opts.stopStrings ?? [];
  const criteria = new StoppingCriteria(opts.eosIds ?? [], opts.maxNewTokens ?? 256, stops);
  const rows: RowState[] = prompts.map((p, r) => ({
    rng: new Rng(opts.rowSeeds?.[r] ?? seed + r),
    history: [...p],
    ids: [],
    text: new TextAssembler(tokenizer, stops),
    finish: null,
  }));
  const results = () =>
    rows.map((_, r) => {
      const row = rows[tiedTo?.[r] ?? r]!;
      return { ids: row.ids, text: row.text.text, finishReason: row.finish ?? "length" };
    });
  if (criteria.maxNewTokens === 0) return results();

  const processors = opts.processors ?? samplingProcessors(opts);
  const greedy = isGreedy(opts);
  let live: readonly number[] = [];
  const batch: LogitsBatch = {
    logits: new Float32Array(0),
    rows: 0,
    vocab: model.vocabSize,
    temperature: new Float64Array(prompts.length),
    history: (i) => rows[live[i]!]!.history,
    ...(tiedTo ? { leader: new Int32Array(prompts.length) } : {}),
  };
  /** Live index of each prompt in this step (tied rows only). */
  const where = new Int32Array(tiedTo ? prompts.length : 0);
  const events: BatchEvent[] = [];
  const steps = decodeLoop(model, prompts, {
    choose(logits, liveRows, ids) {
      live = liveRows;
      batch.logits = logits;
      batch.rows = liveRows.length;
      batch.temperature.fill(1);
      const leader = batch.leader;
      if (tiedTo && leader) {
        liveRows.forEach((p, i) => (where[p] = i));
        liveRows.forEach((p, i) => (leader[i] = where[tiedTo[p]!]!));
      }
      const usable = model.usableVocab ?? batch.vocab;
      if (usable < batch.vocab) for (let i = 0; i < liveRows.length; i++) logits.fill(-Infinity, i * batch.vocab + usable, (i + 1) * batch.vocab);
      if (minNew) {
        for (let i = 0; i < liveRows.length; i++) {
          const l = tiedTo?.[liveRows[i]!] ?? liveRows[i]!;
          if (rows[l]!.ids.length >= minNew[l]!) continue;
          const scores = rowScores(batch, i);
          for (const id of criteria.ids) if (id < batch.vocab) scores[id] = -Infinity;
        }
      }
      for (const p of processors) p.process(batch);
      for (let i = 0; i < liveRows.length; i++) {
        if (leader && leader[i] !== i) continue;
        const scores = rowScores(batch, i);
        ids[i] = greedy ? argmax(scores) : drawToken(scores, batch.temperature[i]!, rows[liveRows[i]!]!.rng);
      }
      if (leader) for (let i = 0; i < liveRows.length; i++) ids[i] = ids[leader[i]!]!;
    },
    ends(r, id) {
      const row = rows[r]!;
      const l = tiedTo?.[r] ?? r;
      if (l !== r) {
        // A follower: its leader (earlier in the live order) has already taken this token.
        if (!criteria.isStopId(id)) row.history.push(id);
        return rows[l]!.finish !== null;
      }
      if (criteria.isStopId(id)) {
        row.finish = "eos";
        events.push({ row: r, piece: { id: null, text: row.text.flush() }, finish: "eos" });
        return true;
      }
      row.ids.push(id);
      row.history.push(id);
      let text = row.text.push(id);
      row.finish = criteria.afterToken(row.ids.length, row.text.stopped);
      if (row.finish === "length") text += row.text.flush();
      events.push(row.finish ? { row: r, piece: { id, text }, finish: row.finish } : { row: r, piece: { id, text } });
      return row.finish !== null;
    },
  });
  for await (const _ of steps) {
    for (const e of events) yield e;
    events.length = 0;
  }
  return results();
}

/** Whether a streamed piece carries anything (a stop id's closing piece may carry no text). */
export function isEmptyPiece(piece: GeneratedPiece): boolean {
  return piece.id === null && piece.text === "";
}
