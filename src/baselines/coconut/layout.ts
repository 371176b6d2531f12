// Coconut's training sequence at curriculum stage k (Hao et al., 2024): the first k reasoning steps are replaced by
// k * c latent slots between <bot> and <eot>; past the last latent stage every step is dropped and the slots stay at
// maxLatentStage * c. The example is an SFT example (train/batching.ts): prompt = question, markers and latents (never
// scored), target = the remaining steps, the answer and the end token (scored).
import { UserError } from "../../util/errors.ts";

/** The ids of the three marker tokens. */
export interface LatentTokens {
  /** <|start-latent|> */
  bot: number;
  /** <|end-latent|> */
  eot: number;
  /** <|latent|>: a placeholder whose input embedding is always replaced. */
  latent: number;
}

export interface StageOptions {
  /** Curriculum stage k >= 0. */
  stage: number;
  /** Stages past this one drop every step and keep maxLatentStage * c slots. */
  maxLatentStage: number;
  /** Latent slots per replaced step (c >= 0). */
  c: number;
  /** The token that ends the target (null: none). */
  eosId: number | null;
  /** Put <bot>/<eot> around the slots (default true); without them, zero slots give the plain SFT layout. */
  markers?: boolean;
}

/** An SFT example (train/batching.ts Example: prompt ids, target ids, id) with where its latent slots are. */
export interface CoconutExample {
  promptIds: number[];
  targetIds: number[];
  id?: string;
  /** Index in promptIds of the first latent slot (= where the slots would start when there are none). */
  latentStart: number;
  /** Number of latent slots (static per stage). */
  latentCount: number;
}

/** Steps skipped and slots at stage k: k > max -> all steps, max slots; else k steps (even beyond K), k slots. */
export function stagePlan(stage: number, stepCount: number, o: Pick<StageOptions, "maxLatentStage" | "c">): { skip: number; latents: number } {
  for (const [name, v] of [["stage", stage], ["maxLatentStage", o.maxLatentStage], ["c", o.c]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new UserError(`coconut: ${name} must be an integer >= 0, got ${v}`);
  }
  if (stage > o.maxLatentStage) return { skip: stepCount, latents: o.maxLatentStage * o.c };
  return { skip: Math.min(stage, stepCount), latents: stage * o.c };
}

/** The stage-k example of question ids, reasoning steps (ids per step) and answer ids. */
export function stageExample(
  question: readonly number[],
  steps: readonly (readonly number[])[],
  answer: readonly number[],
  tokens: LatentTokens,
  o: StageOptions,
  id?: string,
): CoconutExample {
  if (question.length === 0) throw new UserError(`coconut: example ${id ?? "?"} has an empty question`);
  const { skip, latents } = stagePlan(o.stage, steps.length, o);
  const markers = o.markers ?? true;
  const promptIds = [...question];
  if (markers) promptIds.push(tokens.bot);
  const latentStart = promptIds.length;
  for (let i = 0; i < latents; i++) promptIds.push(tokens.latent);
  if (markers) promptIds.push(tokens.eot);
  const targetIds = [...steps.slice(skip).flat(), ...answer, ...(o.eosId === null ? [] : [o.eosId])];
  return { promptIds, targetIds, latentStart, latentCount: latents, ...(id === undefined ? {} : { id }) };
}

/** The decoding prompt at a stage: question + <bot> + <|latent|> * (c * min(stage, max)) + <eot>. */
export function inferencePrompt(question: readonly number[], tokens: LatentTokens, o: Pick<StageOptions, "stage" | "maxLatentStage" | "c">): number[] {
  const n = stagePlan(o.stage, 0, o).latents; // = c * min(stage, max)
  return [...question, tokens.bot, ...Array.from({ length: n }, () => tokens.latent), tokens.eot];
}
