// The HTTP server of `flythinker serve` (Node's http module): OpenAI-compatible generation with server-sent-event
// streaming, one continuous batcher per served model, Prometheus metrics, the page at /. Routes:
//   GET  /health               {"status": "ok"} (503 "draining" after SIGTERM); never needs the API key
//   GET  /v1/models            the served models
//   POST /v1/chat/completions  chat (personalised with `user` / `flythinker`)
//   POST /v1/completions       plain-text prompts
//   POST /tokenize             the prompt ids a request would get
//   GET  /v1/flythinker/users  the users of --data with their histories (for the page)
//   GET  /metrics              Prometheus text
//   GET  /                     the page (docs/serving.md)
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { FinishReason } from "../model/generation/stopping.ts";
import type { RowEvent } from "../model/generation/continuous.ts";
import { UserError } from "../util/errors.ts";
import { ApiError } from "./errors.ts";
import { Gauge, ServerMetrics } from "./metrics.ts";
import { ServedModel, type ModelSpec } from "./models.ts";
import { parseGenerationRequest, parseJsonBody, type Endpoint, type GenerationRequest } from "./request.ts";
import { UserHistories } from "./users.ts";

export interface ServeOptions {
  models: ModelSpec[];
  /** Dataset folder or JSONL file whose users' histories requests may name. */
  data?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** When set, every route but /health (and the page's HTML) needs `Authorization: Bearer KEY`. */
  apiKey?: string;
  /** Rows decoded together per model (default 8). */
  maxBatch?: number;
  /** Requests waiting for a row, per model, before new ones get 429 (default 64). */
  maxQueue?: number;
  /** Origin allowed by CORS (e.g. "*"); none by default. */
  cors?: string;
  /** Largest request body in bytes (default 1 MiB); larger ones get 413 without being read. */
  maxBodyBytes?: number;
  /** ONNX Runtime threads per model (default: all cores; FlyThinker's Reasoner takes one of them). */
  threads?: number;
  log?: (line: string) => void;
}

export const DEFAULTS = { host: "127.0.0.1", port: 8080, maxBatch: 8, maxQueue: 64, maxBodyBytes: 1 << 20 } as const;

const FINISH: Record<FinishReason, "stop" | "length"> = { eos: "stop", stop: "stop", length: "length" };

const PAGE = new URL("./page.html", import.meta.url);

export class FlyThinkerServer {
  readonly metrics = new ServerMetrics();
  private draining = false;
  /** Set when the grace period ran out: the rows still running leave at their next step. */
  private stopping = false;
  private readonly server: Server;

  private constructor(
    readonly options: ServeOptions,
    readonly models: ReadonlyMap<string, ServedModel>,
    readonly users: UserHistories | null,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    const gauge = (name: string, help: string, value: (m: ServedModel) => number) =>
      this.metrics.add(new Gauge(name, help, () => [...models.values()].map((m) => ({ labels: { model: m.name }, value: value(m) }))));
    gauge("flythinker_queue_depth", "Requests waiting for a row", (m) => m.batcher.queued);
    gauge("flythinker_active_rows", "Rows in the running batch", (m) => m.batcher.active);
    gauge("flythinker_decode_steps", "One-token decoding steps so far", (m) => m.decoder.timing.steps);
    gauge("flythinker_generator_step_seconds_sum", "Generator time of the decoding steps so far", (m) => m.decoder.timing.generatorMs / 1000);
    gauge("flythinker_reasoner_step_seconds_sum", "Reasoner time of the decoding steps so far, beyond the Generator's (waiting for the worker in parallel mode)", (m) => m.decoder.timing.reasonerMs / 1000);
  }

  /** Loads every model and listens. */
  static async start(options: ServeOptions): Promise<FlyThinkerServer> {
    if (options.models.length === 0) throw new UserError("serve needs at least one --model");
    const names = new Set<string>();
    for (const m of options.models) {
      if (names.has(m.name)) throw new UserError(`--model: the name "${m.name}" is given twice (use NAME=DIR)`);
      names.add(m.name);
    }
    const users = options.data !== undefined ? await UserHistories.load(options.data) : null;
    const metricsRef: { current?: ServerMetrics } = {};
    const models = new Map<string, ServedModel>();
    try {
      for (const spec of options.models) {
        models.set(spec.name, await ServedModel.load(spec, {
          maxBatch: options.maxBatch ?? DEFAULTS.maxBatch,
          threads: options.threads,
          onStep: (model, info) => {
            const m = metricsRef.current;
            if (!m) return;
            m.stepSeconds.observe({ model, kind: info.kind }, info.ms / 1000);
            if (info.kind === "step") m.batchSize.observe({ model }, info.rows);
          },
        }));
      }
    } catch (e) {
      for (const m of models.values()) await m.close();
      throw e;
    }
    const s = new FlyThinkerServer(options, models, users);
    metricsRef.current = s.metrics;
    const host = options.host ?? DEFAULTS.host;
    const port = options.port ?? DEFAULTS.port;
    try {
      await new Promise<void>((resolve, reject) => {
        s.server.once("error", reject);
        s.server.listen(port, host, () => resolve());
      });
    } catch (e) {
      for (const m of models.values()) await m.close();
      throw new UserError(`cannot listen on ${host}:${port} (--host, --port): ${(e as Error).message}`);
    }
    return s;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /**
   * Stops taking requests (new ones get 503, /health says "draining"), lets those in flight finish for up to
   * `graceMs`, then ends the rest at their next step, closes the connections and releases the models.
   */
  async shutdown(graceMs = 30_000): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const idle = Promise.all([...this.models.values()].map((m) => m.batcher.whenIdle()));
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([idle.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (late) {
      this.stopping = true;
      await idle;
    }
    // Let the handlers of the last responses end them, then close what is left.
    await new Promise((r) => setImmediate(r));
    this.server.closeIdleConnections();
    setTimeout(() => this.server.closeAllConnections(), 1000).unref();
    await closed;
    for (const m of this.models.values()) await m.close();
  }

  // ---- plumbing ----

  private send(res: ServerResponse, status: number, body: unknown, type = "application/json"): void {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  private fail(res: ServerResponse, e: ApiError): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    this.send(res, e.status, e.body());
  }

  /** The body, at most maxBodyBytes: a larger one is refused from its Content-Length, or as soon as it grows past. */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = this.options.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
    const tooLarge = () => new ApiError(413, `the request body is larger than ${limit} bytes`, null, "request_too_large");
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (declared > limit) return Promise.reject(tooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          req.pause();
          reject(tooLarge());
          return;
        }
        chunks.push(c);
      });
      req.on("end", () => resolve(Buffer.concat(chunks)));
      req.on("error", reject);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!;
    const route = `${req.method} ${path}`;
    // A client that went away before the response ended counts as status 499 (client closed request).
    res.on("close", () => this.metrics.requests.inc({ route: path, status: res.writableFinished ? String(res.statusCode) : "499" }));
    if (this.options.cors) {
      res.setHeader("access-control-allow-origin", this.options.cors);
      res.setHeader("access-control-allow-headers", "authorization, content-type");
      res.setHeader("access-control-allow-methods", "GET, POST, OPTIONS");
    }
    try {
      if (req.method === "OPTIONS") {
        res.writeHead(204).end();
        return;
      }
      if (route === "GET /health") {
        this.send(res, this.draining ? 503 : 200, { status: this.draining ? "draining" : "ok" });
        return;
      }
      if (route === "GET /") {
        this.send(res, 200, readFileSync(PAGE, "utf8"), "text/html; charset=utf-8");
        return;
      }
      const key = this.options.apiKey;
      if (key !== undefined && req.headers.authorization !== `Bearer ${key}`) {
        throw new ApiError(401, req.headers.authorization ? "the API key is not valid" : "an API key is required (Authorization: Bearer KEY)", null, "invalid_api_key");
      }
      if (route === "GET /metrics") return this.send(res, 200, this.metrics.text(), "text/plain; version=0.0.4");
      if (this.draining) throw new ApiError(503, "the server is shutting down", null, "shutting_down");
      switch (route) {
        case "GET /v1/models":
          return this.send(res, 200, { object: "list", data: [...this.models.values()].map((m) => this.modelCard(m)) });
        case "GET /v1/flythinker/users":
          return this.send(res, 200, this.usersCard());
        case "POST /v1/chat/completions":
          return await this.generate(req, res, "chat");
        case "POST /v1/completions":
          return await this.generate(req, res, "completions");
        case "POST /tokenize":
          return await this.tokenize(req, res);
      }
      const known = ["/health", "/", "/metrics", "/v1/models", "/v1/flythinker/users", "/v1/chat/completions", "/v1/completions", "/tokenize"];
      if (known.includes(path)) throw new ApiError(405, `${req.method} is not allowed on ${path}`, null, "method_not_allowed");
      throw new ApiError(404, `no route ${req.method} ${path}`, null, "not_found", "not_found_error");
    } catch (e) {
      if (e instanceof ApiError) {
        if (e.status === 413) res.setHeader("connection", "close");
        this.fail(res, e);
        if (e.status === 413) res.on("finish", () => req.destroy());
      } else if (e instanceof UserError) this.fail(res, new ApiError(400, e.message, null, "invalid_value"));
      else {
        this.options.log?.(`error: ${(e as Error).stack ?? String(e)}`);
        this.fail(res, new ApiError(500, `internal error: ${(e as Error).message}`, null, "internal_error"));
      }
    }
  }

  private modelCard(m: ServedModel): unknown {
    return {
      id: m.name,
      object: "model",
      created: 0,
      owned_by: "flythinker",
      flythinker: { kind: m.kind, reasoner: m.thinks, context_length: m.contextLength },
    };
  }

  private usersCard(): unknown {
    if (!this.users) return { object: "list", data: [] };
    return {
      object: "list",
      data: this.users.users.map((u) => {
        const r = this.users!.record(u)!;
        return { user: u, task: r.task, example_query: r.input, history: r.profile.map((p) => ({ input: p.input, output: p.output })) };
      }),
    };
  }

  private model(r: GenerationRequest): ServedModel {
    const m = this.models.get(r.model);
    if (!m) throw new ApiError(404, `model "${r.model}" is not served here; GET /v1/models lists ${[...this.models.keys()].join(", ")}`, "model", "model_not_found");
    return m;
  }

  private async tokenize(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseJsonBody(await this.readBody(req));
    const r = parseGenerationRequest(body, "tokenize");
    const m = this.model(r);
    const built = m.prompt(r, this.users);
    this.send(res, 200, {
      model: m.name,
      tokens: built.ids,
      count: built.ids.length,
      max_model_len: m.contextLength,
      chat: built.chat,
      history: built.history.map((h) => ({ input: h.input, output: h.output })),
    });
  }

  private async generate(req: IncomingMessage, res: ServerResponse, endpoint: Endpoint): Promise<void> {
    const t0 = performance.now();
    const body = parseJsonBody(await this.readBody(req));
    const r = parseGenerationRequest(body, endpoint);
    const m = this.model(r);
    const built = m.prompt(r, this.users);
    const options = m.options(r, built);
    const maxQueue = this.options.maxQueue ?? DEFAULTS.maxQueue;
    if (m.batcher.queued >= maxQueue) {
      throw new ApiError(429, `${m.name} has ${m.batcher.queued} requests waiting (--max-queue ${maxQueue}); retry later`, null, "queue_full");
    }
    const chat = endpoint === "chat";
    const id = `${chat ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const object = chat ? "chat.completion.chunk" : "text_completion";
    const influence = r.influence && m.thinks && r.stream;
    let gone = false;
    res.on("close", () => {
      if (!res.writableFinished) gone = true;
    });
    const write = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
    const usageNull = r.includeUsage ? { usage: null } : {};
    const chunk = (text: string | null, finish: string | null, extra: Record<string, unknown> = {}) =>
      chat
        ? { id, object, created, model: m.name, choices: [{ index: 0, delta: text === null ? {} : { content: text }, logprobs: null, finish_reason: finish }], ...usageNull, ...extra }
        : { id, object, created, model: m.name, choices: [{ index: 0, text: text ?? "", logprobs: null, finish_reason: finish }], ...usageNull, ...extra };
    let tokens = 0;
    let last = 0;
    const labels = { model: m.name };
    const onEvent = (e: RowEvent) => {
      const now = performance.now();
      if (e.piece.id !== null) {
        if (tokens === 0) this.metrics.ttft.observe(labels, (now - t0) / 1000);
        else this.metrics.itl.observe(labels, (now - last) / 1000);
        last = now;
        tokens++;
      }
      if (!r.stream || gone) return;
      if (e.piece.text === "" && !(influence && e.piece.id !== null)) return;
      const extra = influence && e.piece.id !== null
        ? { flythinker: { token: e.piece.id, influence: e.influence ? { kl: e.influence.kl, logprob_delta: e.influence.logprobDelta } : null } }
        : {};
      write(chunk(e.piece.text, null, extra));
    };
    const done = m.batcher.submit({ prompt: built.ids, options, influence, onEvent, cancelled: () => gone || this.stopping });
    this.metrics.promptTokens.inc(labels, built.ids.length);
    if (r.stream) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      if (chat) write({ id, object, created, model: m.name, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }], ...usageNull });
    }
    const result = await done;
    this.metrics.completionTokens.inc(labels, result.ids.length);
    if (result.cancelled && gone) {
      this.metrics.cancelled.inc(labels);
      return;
    }
    const finish = result.cancelled ? "length" : FINISH[result.finishReason];
    const usage = { prompt_tokens: built.ids.length, completion_tokens: result.ids.length, total_tokens: built.ids.length + result.ids.length };
    if (r.stream) {
      write(chunk(null, finish));
      if (r.includeUsage) write({ id, object, created, model: m.name, choices: [], usage });
      res.end("data: [DONE]\n\n");
      return;
    }
    const choice = chat
      ? { index: 0, message: { role: "assistant", content: result.text }, logprobs: null, finish_reason: finish }
      : { index: 0, text: result.text, logprobs: null, finish_reason: finish };
    this.send(res, 200, { id, object: chat ? "chat.completion" : "text_completion", created, model: m.name, choices: [choice], usage });
  }
}

