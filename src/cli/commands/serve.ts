// `flythinker serve`: the OpenAI-compatible server (src/serve, docs/serving.md).
//   serve --model [NAME=]DIR ... [--data DIR] [--host H] [--port P] [--api-key KEY] [--max-batch N] [--max-queue N]
//         [--cors ORIGIN] [--threads N] [--grace S]
// SIGTERM (or SIGINT) stops taking requests, lets those in flight finish within the grace period, then exits.
import type { Command } from "commander";
import { UserError } from "../../util/errors.ts";
import { parseModelSpec } from "../../serve/models.ts";
import { DEFAULTS, FlyThinkerServer } from "../../serve/server.ts";
import { intFlag } from "../flags.ts";

interface ServeFlags {
  model: string[];
  data?: string;
  host: string;
  port: string;
  apiKey?: string;
  maxBatch: string;
  maxQueue: string;
  cors?: string;
  threads?: string;
  grace: string;
}

const collect = (v: string, acc: string[]) => [...acc, v];

async function serve(o: ServeFlags): Promise<void> {
  if (o.model.length === 0) throw new UserError("serve needs at least one --model [NAME=]DIR");
  const port = intFlag(o.port, "--port", { min: 0, max: 65535 });
  const grace = intFlag(o.grace, "--grace", { min: 0 });
  if (o.apiKey !== undefined && o.apiKey.trim() === "") throw new UserError("--api-key must not be empty");
  const server = await FlyThinkerServer.start({
    models: o.model.map(parseModelSpec),
    data: o.data,
    host: o.host,
    port,
    apiKey: o.apiKey,
    maxBatch: intFlag(o.maxBatch, "--max-batch", { min: 1 }),
    maxQueue: intFlag(o.maxQueue, "--max-queue", { min: 0 }),
    cors: o.cors,
    threads: o.threads === undefined ? undefined : intFlag(o.threads, "--threads", { min: 1 }),
    log: (line) => console.error(line),
  });
  const names = [...server.models.values()].map((m) => `${m.name} (${m.kind})`).join(", ");
  console.log(`serving ${names} at ${server.url} (the page at ${server.url}/, OpenAI API under ${server.url}/v1)`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      console.error(`${signal}: finishing the requests in flight (up to ${grace} s), taking no new ones`);
      process.removeAllListeners("SIGTERM");
      process.removeAllListeners("SIGINT");
      void server.shutdown(grace * 1000).then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  console.error("stopped");
}

export function register(program: Command): void {
  program
    .command("serve")
    .description("Serve models over an OpenAI-compatible HTTP API (chat and text completions, streaming), with a page at / that shows FlyThinker's thinking")
    .option("--model <[name=]dir>", "a model folder to serve (plain HF, SFT or FlyThinker output; repeatable); the name defaults to the folder's", collect, [] as string[])
    .option("--data <dir|file>", "dataset whose users' histories requests may name (the `user` field)")
    .option("--host <host>", "address to listen on", DEFAULTS.host)
    .option("--port <n>", "port to listen on (0: any free one)", String(DEFAULTS.port))
    .option("--api-key <key>", "require Authorization: Bearer KEY on every route but /health")
    .option("--max-batch <n>", "rows decoded together per model (continuous batching)", String(DEFAULTS.maxBatch))
    .option("--max-queue <n>", "requests waiting per model before new ones get 429", String(DEFAULTS.maxQueue))
    .option("--cors <origin>", "allow this origin (e.g. \"*\") to call the API from a browser")
    .option("--threads <n>", "ONNX Runtime threads per model (default: all cores; FlyThinker's Reasoner takes one)")
    .option("--grace <seconds>", "on SIGTERM, how long requests in flight may take to finish", "30")
    .action(serve);
}
