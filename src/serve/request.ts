// The body of a generation request (/v1/chat/completions, /v1/completions, /tokenize), checked field by field: any
// fault is a 400 whose `param` names the field and whose message says what was expected.
import type { ProfileItem } from "../data/record.ts";
import { TASK_TEMPLATES } from "../data/templates.ts";
import { ApiError, badField } from "./errors.ts";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** How the server personalises: the user's history (from --data or the request), or one of the baselines' prompts. */
export type PersonalMode = "history" | "non-pers" | "rag";

export interface GenerationRequest {
  model: string;
  /** Chat requests. */
  messages?: ChatMessage[];
  /** Completion requests (plain text, no chat template). */
  prompt?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop: string[];
  seed?: number;
  stream: boolean;
  includeUsage: boolean;
  /** Whose history to use (the OpenAI `user` field, or `flythinker.user`). */
  user?: string;
  /** The user was named by `flythinker.user` (who must then be a user of --data). */
  userFromExtension: boolean;
  /** History given in the request (instead of --data's). */
  history?: ProfileItem[];
  mode?: PersonalMode;
  /** The task whose prompt template a request without a --data user uses (default: the first of the table). */
  task?: string;
  /** Run to max_tokens past the model's stop ids (vLLM's `ignore_eos`; stop strings still apply). */
  ignoreEos: boolean;
  /** Report each token's thought influence (FlyThinker models, streaming). */
  influence: boolean;
}

export type Endpoint = "chat" | "completions" | "tokenize";

const ROLES = ["system", "user", "assistant"];
const MODES: PersonalMode[] = ["history", "non-pers", "rag"];

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v)}`;
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Parses a request body (bytes) as a JSON object, or a 400 saying why it is not one. */
export function parseJsonBody(bytes: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new ApiError(400, `the body is not valid JSON (${(e as Error).message})`, null, "invalid_json");
  }
  if (!isObject(v)) throw new ApiError(400, `the body must be a JSON object, got ${describe(v)}`, null, "invalid_json");
  return v;
}

function str(body: Record<string, unknown>, key: string, where = key): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badField(where, `expected a string, got ${describe(v)}`, "invalid_type");
  return v;
}

function num(body: Record<string, unknown>, key: string, lo: number, hi: number, opts: { integer?: boolean; loOpen?: boolean } = {}): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw badField(key, `expected a number, got ${describe(v)}`, "invalid_type");
  if (opts.integer && !Number.isInteger(v)) throw badField(key, `expected an integer, got ${v}`, "invalid_type");
  if (v > hi || v < lo || (opts.loOpen && v === lo)) {
    throw badField(key, `must be ${opts.loOpen ? `> ${lo}` : `>= ${lo}`} and <= ${hi}, got ${v}`);
  }
  return v;
}

function bool(body: Record<string, unknown>, key: string, where = key): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badField(where, `expected true or false, got ${describe(v)}`, "invalid_type");
  return v;
}

/** A message's content: a string, or an array of {type: "text", text} parts (joined). */
function content(v: unknown, where: string): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    return v.map((part, i) => {
      if (!isObject(part) || part.type !== "text" || typeof part.text !== "string") {
        throw badField(`${where}[${i}]`, `expected a text part {"type": "text", "text": ...}, got ${describe(part)}`, "invalid_type");
      }
      return part.text;
    }).join("");
  }
  throw badField(where, `expected a string or an array of text parts, got ${describe(v)}`, "invalid_type");
}

function messages(v: unknown): ChatMessage[] {
  if (v === undefined || v === null) throw badField("messages", "is required", "missing_required_parameter");
  if (!Array.isArray(v) || v.length === 0) throw badField("messages", `expected a non-empty array of messages, got ${describe(v)}`, "invalid_type");
  return v.map((m, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) throw badField(where, `expected an object {role, content}, got ${describe(m)}`, "invalid_type");
    if (typeof m.role !== "string" || !ROLES.includes(m.role)) throw badField(`${where}.role`, `expected one of ${ROLES.join(", ")}, got ${describe(m.role)}`);
    if (m.content === undefined) throw badField(`${where}.content`, "is required", "missing_required_parameter");
    return { role: m.role as ChatMessage["role"], content: content(m.content, `${where}.content`) };
  });
}

function history(v: unknown): ProfileItem[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw badField("flythinker.history", `expected an array of {input, output} items, got ${describe(v)}`, "invalid_type");
  return v.map((item, i) => {
    const where = `flythinker.history[${i}]`;
    if (typeof item === "string") return { input: "", output: item };
    if (!isObject(item)) throw badField(where, `expected an object {input, output, ...} or a string, got ${describe(item)}`, "invalid_type");
    if (typeof item.output !== "string") throw badField(`${where}.output`, `expected a string, got ${describe(item.output)}`, "invalid_type");
    if (item.input !== undefined && typeof item.input !== "string") throw badField(`${where}.input`, `expected a string, got ${describe(item.input)}`, "invalid_type");
    // Other fields (a task's template may use them, e.g. an email's subject) are kept as they are.
    return { ...item, input: (item.input as string | undefined) ?? "", output: item.output };
  });
}

/** The checked request of an endpoint. */
export function parseGenerationRequest(body: Record<string, unknown>, endpoint: Endpoint): GenerationRequest {
  const model = str(body, "model");
  if (model === undefined || model === "") throw badField("model", "is required (one of the ids of GET /v1/models)", "missing_required_parameter");
  const req: GenerationRequest = { model, stop: [], stream: false, includeUsage: false, influence: false, userFromExtension: false, ignoreEos: false };
  if (endpoint === "chat" || (endpoint === "tokenize" && body.messages !== undefined)) req.messages = messages(body.messages);
  else {
    const p = body.prompt;
    if (p === undefined || p === null) throw badField("prompt", "is required", "missing_required_parameter");
    if (typeof p === "string") req.prompt = p;
    else if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") req.prompt = p[0];
    else throw badField("prompt", `expected a string, got ${describe(p)}`, "invalid_type");
  }
  const maxTokens = num(body, "max_tokens", 1, 1 << 20, { integer: true }) ?? num(body, "max_completion_tokens", 1, 1 << 20, { integer: true });
  if (maxTokens !== undefined) req.maxTokens = maxTokens;
  const temperature = num(body, "temperature", 0, 2);
  if (temperature !== undefined) req.temperature = temperature;
  const topP = num(body, "top_p", 0, 1, { loOpen: true });
  if (topP !== undefined) req.topP = topP;
  const seed = num(body, "seed", -(2 ** 31), 2 ** 31 - 1, { integer: true });
  if (seed !== undefined) req.seed = seed;
  const stop = body.stop;
  if (typeof stop === "string") req.stop = [stop];
  else if (Array.isArray(stop)) {
    if (stop.length > 4) throw badField("stop", `at most 4 stop strings, got ${stop.length}`);
    stop.forEach((s, i) => {
      if (typeof s !== "string") throw badField(`stop[${i}]`, `expected a string, got ${describe(s)}`, "invalid_type");
    });
    req.stop = stop as string[];
  } else if (stop !== undefined && stop !== null) throw badField("stop", `expected a string or an array of strings, got ${describe(stop)}`, "invalid_type");
  req.stop.forEach((s, i) => {
    if (s === "") throw badField(typeof stop === "string" ? "stop" : `stop[${i}]`, "stop strings must not be empty");
  });
  req.stream = bool(body, "stream") ?? false;
  req.ignoreEos = bool(body, "ignore_eos") ?? false;
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (!isObject(so)) throw badField("stream_options", `expected an object, got ${describe(so)}`, "invalid_type");
    if (!req.stream) throw badField("stream_options", "is only allowed when stream is true");
    req.includeUsage = bool(so, "include_usage", "stream_options.include_usage") ?? false;
  }
  num(body, "n", 1, 1, { integer: true }); // one choice per request
  for (const key of ["frequency_penalty", "presence_penalty"]) {
    const v = num(body, key, -2, 2);
    if (v !== undefined && v !== 0) throw badField(key, "is not supported (only 0)", "unsupported_value");
  }
  const user = str(body, "user");
  const fly = body.flythinker;
  if (fly !== undefined && fly !== null) {
    if (!isObject(fly)) throw badField("flythinker", `expected an object {user, history, task, mode, influence}, got ${describe(fly)}`, "invalid_type");
    const flyUser = str(fly, "user", "flythinker.user");
    if (flyUser !== undefined) {
      req.user = flyUser;
      req.userFromExtension = true;
    }
    const h = history(fly.history);
    if (h) req.history = h;
    const mode = fly.mode;
    if (mode !== undefined && mode !== null) {
      if (typeof mode !== "string" || !MODES.includes(mode as PersonalMode)) throw badField("flythinker.mode", `expected one of ${MODES.join(", ")}, got ${describe(mode)}`);
      req.mode = mode as PersonalMode;
    }
    const task = str(fly, "task", "flythinker.task");
    if (task !== undefined) {
      if (!Object.prototype.hasOwnProperty.call(TASK_TEMPLATES, task)) throw badField("flythinker.task", `expected one of ${Object.keys(TASK_TEMPLATES).join(", ")}, got ${describe(task)}`);
      req.task = task;
    }
    req.influence = bool(fly, "influence", "flythinker.influence") ?? false;
  }
  if (req.user === undefined && user !== undefined && user !== "") req.user = user;
  return req;
}
