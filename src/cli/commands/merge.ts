// `flythinker merge OUT PART...`: joins the outputs of `generate --shard I/N` into the output of one unsharded run.
// Every part must be complete and made with the same options; the shards must be 0..N-1, each once; no id may
// appear twice; and the joined ids must be the run's records in order. The parts are joined byte for byte in shard
// order, which is exactly what one run writes (generate-data.ts, shardSlice).
import type { Command } from "commander";
import { existsSync, readFileSync } from "node:fs";
import { parseJsonl, readUtf8 } from "../../eval/io.ts";
import { UserError } from "../../util/errors.ts";
import { atomicWriteBytes } from "../../util/files.ts";
import { withOutputLock } from "../../util/lock.ts";
import { differences, partialFile, readRun, runFile, writeError } from "../../util/resumable-jsonl.ts";
import { idsDigest } from "./generate-data.ts";

interface Part {
  file: string;
  shard: { index: number; count: number };
  run: Record<string, unknown>;
  skipped: { id: string }[];
  bytes: Buffer;
  ids: { id: string; line: number }[];
}

function readPart(file: string): Part {
  if (!existsSync(file)) {
    if (existsSync(partialFile(file))) {
      const n = readFileSync(partialFile(file), "utf8").split("\n").filter((l) => l.trim() !== "").length;
      throw new UserError(`${file} is unfinished (${partialFile(file)} holds ${n} predictions); finish it with generate --resume`);
    }
    throw new UserError(`${file}: no such file`);
  }
  if (!existsSync(runFile(file))) throw new UserError(`${file} has no ${runFile(file)}: it was not written by generate --shard`);
  const { run, progress } = readRun(file);
  const shard = run.shard as { index: number; count: number } | null | undefined;
  if (!shard) throw new UserError(`${file} is the output of an unsharded run (${runFile(file)} has no shard)`);
  const ids = parseJsonl(readUtf8(file), file).map((r) => ({ id: String(r.value.id), line: r.line }));
  const skipped = Array.isArray(progress.skipped) ? (progress.skipped as { id: string }[]) : [];
  return { file, shard, run, skipped, bytes: readFileSync(file), ids };
}

/** Joins shard outputs into `out`; returns the number of predictions written. */
export function mergeShards(out: string, files: readonly string[]): { predictions: number; skipped: number } {
  if (files.length === 0) throw new UserError("merge needs the shard files: merge OUT PART...");
  const parts = files.map(readPart);
  const count = parts[0]!.shard.count;
  const withoutShard = (r: Record<string, unknown>): Record<string, unknown> => ({ ...r, shard: null });
  for (const p of parts.slice(1)) {
    const diffs = differences(withoutShard(parts[0]!.run), withoutShard(p.run));
    if (diffs.length) throw new UserError(`${p.file} was made with other settings than ${parts[0]!.file}:\n  ${diffs.join("\n  ")}`);
    if (p.shard.count !== count) throw new UserError(`${p.file} is shard ${p.shard.index}/${p.shard.count}, ${parts[0]!.file} one of ${count}`);
  }
  const byIndex = new Map<number, Part>();
  for (const p of parts) {
    const other = byIndex.get(p.shard.index);
    if (other) throw new UserError(`${other.file} and ${p.file} are both shard ${p.shard.index}/${count}`);
    byIndex.set(p.shard.index, p);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length) throw new UserError(`shards ${missing.map((i) => `${i}/${count}`).join(", ")} are missing (got ${parts.length} of ${count})`);
  const ordered = [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
  const seen = new Map<string, string>();
  const dups: string[] = [];
  for (const p of ordered) {
    for (const { id, line } of p.ids) {
      const where = `${p.file}:${line}`;
      const first = seen.get(id);
      if (first !== undefined) dups.push(`"${id}" (${first} and ${where})`);
      else seen.set(id, where);
    }
  }
  if (dups.length) throw new UserError(`${dups.length} ids appear twice: ${dups.slice(0, 10).join(", ")}${dups.length > 10 ? ", ..." : ""}`);
  const run = withoutShard(parts[0]!.run);
  const ids = ordered.flatMap((p) => p.ids.map((x) => x.id));
  const skipped = ordered.flatMap((p) => p.skipped);
  const expected = Number(run.data_records);
  if (ids.length + skipped.length !== expected) {
    throw new UserError(`the shards hold ${ids.length} predictions and ${skipped.length} skipped records, but the run has ${expected} records`);
  }
  if (skipped.length === 0 && idsDigest(ids) !== run.data_ids_sha256) {
    throw new UserError(`the shards' ids are not the run's records in order (were the shards made from the same --data?)`);
  }
  const bytes = Buffer.concat(ordered.map((p) => p.bytes));
  try {
    atomicWriteBytes(out, bytes);
    atomicWriteBytes(runFile(out), JSON.stringify({ run, progress: { skipped, merged_from: ordered.map((p) => p.file) } }, null, 2) + "\n");
  } catch (e) {
    throw writeError(out, e, bytes.length);
  }
  return { predictions: ids.length, skipped: skipped.length };
}

export function register(program: Command): void {
  program
    .command("merge")
    .description("join the outputs of `generate --shard I/N` (all N of them, any order) into one predictions file")
    .argument("<out>", "the predictions file to write")
    .argument("<parts...>", "the shard outputs")
    .option("--force", "break an output lock left by a run on another host that is gone")
    .action(async (out: string, parts: string[], o: { force?: boolean }) => {
      const r = await withOutputLock(out, { command: "merge", force: o.force === true }, () => mergeShards(out, parts));
      console.log(`wrote ${r.predictions} predictions from ${parts.length} shards to ${out}${r.skipped ? ` (${r.skipped} records were skipped)` : ""}`);
    });
}
