// A served model: a model folder (plain HF, SFT or FlyThinker output) loaded once, its decoder (FlyThinker in
// parallel mode with its Reasoner worker) behind a continuous batcher, and the rules that turn a request into prompt
// ids and generation options, the same as `flythinker generate` for the same prompt and flags:
//   - /v1/completions: the prompt text as it is (`generate --raw --prompt`);
//   - /v1/chat/completions without personalisation: a plain model's chat template over the messages, a trained
//     model's prompt format of its training for one user message (`generate --prompt`; with other messages, the
//     chat template over them, as `generate --system`);
//   - with a user's history (`user` from --data, or `flythinker.history`): the record {task, user, input: the user
//     message, profile: the history} through the prompt builder with the options `generate --data` uses (the trained
//     ones; a plain model's defaults, or a baseline's with `flythinker.mode`).
import { availableParallelism } from "node:os";
import { basename } from "node:path";
import { baselinePromptOptions } from "../baselines/index.ts";
import { recordPrompt, type PromptBuildOptions } from "../data/prompt-ids.ts";
import type { PersonalRecord, ProfileItem } from "../data/record.ts";
import { TASK_TEMPLATES } from "../data/templates.ts";
import { PairDecoder } from "../flythinker/decode.ts";
import { loadAnyModel, type AnyModel } from "../flythinker/model.ts";
import { messagePromptIds, pairGenerationConfig, pairStopIds } from "../flythinker/model-generation.ts";
import { ContinuousBatcher, type BatchStepInfo } from "../model/generation/continuous.ts";
import type { GenerateOptions } from "../model/generation/session.ts";
import { UserError } from "../util/errors.ts";
import { ApiError, badField } from "./errors.ts";
import type { GenerationRequest } from "./request.ts";
import type { UserHistories } from "./users.ts";

/** Default token budget of a response (as `generate`). */
export const DEFAULT_MAX_TOKENS = 256;

export interface ModelSpec {
  name: string;
  dir: string;
  /** The model already loaded (benchmarks build one in memory); otherwise `dir` is read. */
  loaded?: AnyModel;
}

/** `[NAME=]DIR` of --model: the name defaults to the folder's name. */
export function parseModelSpec(value: string): ModelSpec {
  const eq = value.indexOf("=");
  const name = eq > 0 ? value.slice(0, eq) : basename(value.replace(/\/+$/, ""));
  const dir = eq > 0 ? value.slice(eq + 1) : value;
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(name)) throw new UserError(`--model ${value}: the name "${name}" must be letters, digits, ".", "_", ":" or "-"`);
  if (dir === "") throw new UserError(`--model ${value}: no folder after "="`);
  return { name, dir };
}

/** A request's prompt: its ids, whether the chat template made it, and the history items it used. */
export interface BuiltRequestPrompt {
  ids: number[];
  chat: boolean;
  history: ProfileItem[];
}

export class ServedModel {
  private constructor(
    readonly name: string,
    readonly loaded: AnyModel,
    readonly decoder: PairDecoder,
    readonly batcher: ContinuousBatcher,
  ) {}

  static async load(spec: ModelSpec, opts: { maxBatch: number; onStep?: (model: string, info: BatchStepInfo) => void; threads?: number }): Promise<ServedModel> {
    const loaded = spec.loaded ?? loadAnyModel(spec.dir);
    const fly = loaded.model.pair.reasoner !== undefined;
    const cores = opts.threads ?? availableParallelism();
    const decoder = await PairDecoder.create(loaded.model, {
      mode: "parallel",
      generatorThreads: fly ? Math.max(1, cores - 1) : cores,
    });
    const batcher = new ContinuousBatcher(decoder, loaded.tok, { maxBatch: opts.maxBatch, onStep: (info) => opts.onStep?.(spec.name, info) });
    return new ServedModel(spec.name, loaded, decoder, batcher);
  }

  /** "model" (plain folder), "sft" or "flythinker". */
  get kind(): string {
    return this.loaded.kind;
  }

  get thinks(): boolean {
    return this.loaded.model.pair.reasoner !== undefined;
  }

  get contextLength(): number {
    return this.loaded.model.pair.generator.maxPositionEmbeddings;
  }

  /** The request's prompt (see the file comment); 400s name the field at fault. */
  prompt(req: GenerationRequest, users: UserHistories | null): BuiltRequestPrompt {
    const tok = this.loaded.tok;
    const nonEmpty = (ids: number[], field: string) => {
      if (ids.length === 0) throw badField(field, "the prompt has no tokens");
      return ids;
    };
    if (req.prompt !== undefined) {
      // Text completions take the prompt as it is; the OpenAI `user` field is then only an identifier.
      if (req.history !== undefined || req.userFromExtension || req.mode !== undefined) {
        throw badField("flythinker", "personalisation (user, history, mode) is for /v1/chat/completions; /v1/completions takes the prompt as it is");
      }
      return { ids: nonEmpty(tok.encode(req.prompt), "prompt"), chat: false, history: [] };
    }
    const messages = req.messages!;
    // A user of --data gives their history and task; history in the request replaces the history. The OpenAI `user`
    // field may name anyone (then there is no history); flythinker.user must be a user of --data unless the history
    // comes with the request.
    const record = req.user !== undefined ? users?.record(req.user) : undefined;
    if (!record && req.userFromExtension && req.history === undefined) {
      throw badField("flythinker.user", users ? `no user "${req.user}" in --data` : "this server has no --data to take users' histories from", "unknown_user");
    }
    const personal = record !== undefined || req.history !== undefined || req.mode !== undefined;
    const trained = this.loaded.kind !== "model";
    if (!personal) {
      const onlyUser = messages.length === 1 && messages[0]!.role === "user";
      if (trained && onlyUser) {
        return { ids: nonEmpty(messagePromptIds(tok, messages[0]!.content, this.loaded.trainedPrompt), "messages[0].content"), chat: tok.chatTemplate !== null, history: [] };
      }
      if (tok.chatTemplate === null) {
        if (!onlyUser) throw badField("messages", "this model has no chat template: send one user message");
        return { ids: nonEmpty(tok.encode(messages[0]!.content), "messages[0].content"), chat: false, history: [] };
      }
      return { ids: nonEmpty(tok.encodeChat(messages, { addGenerationPrompt: true }), "messages"), chat: true, history: [] };
    }
    if (messages.length !== 1 || messages[0]!.role !== "user") {
      throw badField("messages", "a personalised request takes one user message (the query the history is used for)");
    }
    if (req.mode !== undefined && req.mode !== "history" && trained) {
      throw badField("flythinker.mode", `the baselines' prompts are for plain models; ${this.name} is a trained ${this.loaded.kind} model`);
    }
    const profile = req.history ?? record?.profile ?? [];
    const task = req.task ?? record?.task ?? Object.keys(TASK_TEMPLATES)[0]!;
    const query: PersonalRecord = { id: "request", task, user: req.user ?? "", input: messages[0]!.content, output: "", profile };
    let opts: PromptBuildOptions = this.loaded.trainedPrompt ?? {};
    if (req.mode === "non-pers" || req.mode === "rag") opts = baselinePromptOptions(req.mode, opts);
    let built: ReturnType<typeof recordPrompt>;
    try {
      built = recordPrompt(query, tok, opts);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      throw badField(req.history ? "flythinker.history" : "user", `the ${task} prompt cannot be built: ${e.message.replace(/^request /, "")}`);
    }
    return { ids: nonEmpty(built.promptIds, "messages[0].content"), chat: tok.chatTemplate !== null, history: built.usedHistory.map((i) => profile[i]!) };
  }

  /** Generation options of a request for a prompt of `promptTokens` ids (the defaults of `generate`). */
  options(req: GenerationRequest, built: BuiltRequestPrompt): GenerateOptions {
    const where = req.prompt !== undefined ? "prompt" : "messages";
    const room = this.contextLength - built.ids.length;
    if (room <= 0) {
      throw new ApiError(413, `${where}: the prompt has ${built.ids.length} tokens; ${this.name} reads at most ${this.contextLength} (its context length) including the response`, where, "context_length_exceeded");
    }
    if (req.maxTokens !== undefined && req.maxTokens > room) {
      throw badField("max_tokens", `the prompt has ${built.ids.length} tokens, so at most ${room} more fit the context length ${this.contextLength}; got ${req.maxTokens}`, "context_length_exceeded");
    }
    const opts: GenerateOptions = { ...pairGenerationConfig(this.loaded.model).sampling };
    opts.maxNewTokens = req.maxTokens ?? Math.min(DEFAULT_MAX_TOKENS, room);
    if (req.temperature !== undefined) {
      opts.temperature = req.temperature;
      if (req.temperature > 0) opts.greedy = false;
    }
    if (req.topP !== undefined) opts.topP = req.topP;
    opts.seed = req.seed ?? 0;
    if (req.stop.length) opts.stopStrings = req.stop;
    opts.eosIds = req.ignoreEos ? [] : pairStopIds(this.loaded.model, this.loaded.tok, built.chat);
    return opts;
  }

  async close(): Promise<void> {
    await this.decoder.close();
  }
}
