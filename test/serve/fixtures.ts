// A tiny served trio for the serving tests: a plain model folder, an SFT output and a FlyThinker output (trained two
// steps on tiny random models, weights sharpened so that sampled text varies), a dataset folder whose test split has
// two users with histories, and the CLI run in this process.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../src/cli/main.ts";
import { output } from "../../src/cli/commands/model.ts";
import { train, type PersonalRecord } from "../../src/index.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/model/checkpoint.ts";
import { UserError } from "../../src/util/errors.ts";
import { writePair, writePairsFile } from "../train/fixtures.ts";

export interface ServedFixture {
  root: string;
  plain: string;
  sft: string;
  fly: string;
  data: string;
  records: PersonalRecord[];
  trainedPrompt: { budgets: { input: number } };
}

/** Multiplies a model folder's weights (norms aside) so that its text is not one repeated token. */
function sharpen(dir: string, tokenizerFrom: string): void {
  const ck = loadCheckpoint(dir);
  for (const [name, w] of ck.weights) if (!name.includes("norm")) for (let i = 0; i < w.length; i++) w[i]! *= 25;
  saveCheckpoint(dir, ck.config, ck.weights, { overwrite: true, tokenizerFrom });
}

export async function makeServedFixture(): Promise<ServedFixture> {
  const root = mkdtempSync(join(tmpdir(), "serve-"));
  const { generator, reasoner } = writePair(root);
  const pairs = join(root, "pairs.jsonl");
  writePairsFile(pairs, 12, 3);
  const sft = join(root, "sft");
  const fly = join(root, "fly");
  const trainedPrompt = { budgets: { input: 48 } };
  const config = { maxSteps: 2, lr: 1e-3, batchTokens: 256 };
  await train({ method: "sft", generator, data: pairs, out: sft, config, run: { prompt: trainedPrompt } });
  await train({ method: "flythinker", generator, reasoner, data: pairs, out: fly, config, run: { prompt: trainedPrompt } });
  sharpen(generator, generator);
  sharpen(join(sft, "generator"), generator);
  sharpen(join(fly, "generator"), generator);
  const data = join(root, "data");
  mkdirSync(data);
  const records: PersonalRecord[] = [
    {
      id: "r1", task: "email", user: "ann", input: "the red cat sat on the mat", output: "a big dog ran home",
      profile: [
        { input: "the dog", subject: "park", output: "the small dog ran to the park fast" },
        { input: "a mat", subject: "mats", output: "blue mat on the red mat" },
      ],
    },
    {
      id: "r2", task: "email", user: "bob", input: "a slow dog", output: "the cat",
      profile: [{ input: "home", subject: "cats", output: "the slow cat sat at home" }],
    },
  ];
  writeFileSync(join(data, "test.jsonl"), records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return { root, plain: generator, sft, fly, data, records, trainedPrompt };
}

/** Runs the CLI in this process: what it printed to stdout and stderr (a UserError's message goes to stderr). */
export async function cli(...args: string[]): Promise<{ out: string; err: string }> {
  let out = "";
  let err = "";
  const saved = { ...output };
  const log = console.log;
  const write = process.stderr.write;
  output.out = (t) => void (out += t);
  output.err = (t) => void (err += t);
  console.log = (...xs: unknown[]) => void (out += xs.join(" ") + "\n");
  process.stderr.write = ((t: string) => ((err += t), true)) as typeof process.stderr.write;
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    err += e.message;
  } finally {
    Object.assign(output, saved);
    console.log = log;
    process.stderr.write = write;
  }
  return { out, err };
}
