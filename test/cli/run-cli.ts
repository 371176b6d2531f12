// Running the CLI in this process for the command tests, and the canonical email records they train and generate on.
import { writeFileSync } from "node:fs";
import { buildProgram } from "../../src/cli/main.ts";
import { Rng } from "../../src/util/random.ts";
import { sentence } from "../train/fixtures.ts";

/** Runs `flythinker ARGS...`: what it printed to stdout and stderr, and the exit code it set. */
export async function runCli(...args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  let out = "";
  let err = "";
  const log = console.log;
  const write = process.stderr.write;
  console.log = (...a: unknown[]) => void (out += a.join(" ") + "\n");
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
  const code = process.exitCode as number | undefined;
  process.exitCode = undefined;
  return { out, err, code };
}

export interface EmailRecordOptions {
  /** Users the records cycle through (default 2). */
  users?: number;
  /** Records whose second history item lacks the "subject" the email prompt needs. */
  noSubject?: readonly number[];
  /** Text of a history item's output (default a 6-word sentence). */
  profileOutput?: (rng: Rng) => string;
}

/** Writes n email records (ids rec0..rec{n-1}, two history items each, seeded) as JSONL; returns their ids. */
export function writeEmailRecords(file: string, n: number, opts: EmailRecordOptions = {}): string[] {
  const rng = new Rng(9);
  const users = opts.users ?? 2;
  const profileOutput = opts.profileOutput ?? ((r: Rng) => sentence(r, 6));
  const ids = Array.from({ length: n }, (_, i) => `rec${i}`);
  const lines = ids.map((id, i) =>
    JSON.stringify({
      id,
      task: "email",
      user: `user${i % users}`,
      input: sentence(rng, 5),
      output: sentence(rng, 7),
      profile: [0, 1].map((j) => {
        const input = sentence(rng, 3);
        const output = profileOutput(rng);
        return opts.noSubject?.includes(i) && j === 1 ? { input, output } : { input, output, subject: sentence(rng, 2) };
      }),
    }),
  );
  writeFileSync(file, lines.join("\n") + "\n");
  return ids;
}
