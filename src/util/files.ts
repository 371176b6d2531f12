// Atomic file and folder writes: everything is written under a temporary name next to the target, then renamed.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { UserError } from "./errors.ts";
import { randomBytes } from "node:crypto";

function tmpName(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Writes a file through `write(fd)` into a temporary file, fsyncs it and renames it over `path`. */
export function atomicWriteFile(path: string, write: (fd: number) => void): void {
  const tmp = tmpName(path);
  const fd = openSync(tmp, "w");
  let ok = false;
  try {
    write(fd);
    fsyncSync(fd);
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) rmSync(tmp, { force: true });
  }
  renameSync(tmp, path);
}

/** Writes all of `data` to `fd` (writeSync may write less than asked for). */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/** `atomicWriteFile` for a whole buffer or string. */
export function atomicWriteBytes(path: string, data: Uint8Array | string): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  atomicWriteFile(path, (fd) => writeAll(fd, bytes));
}

/**
 * Makes a folder atomically: `fill(tmpDir)` populates a fresh temporary sibling folder, which is then renamed to `dir`.
 * An existing `dir` is replaced only when `overwrite` is set (it is moved aside first and removed after the rename).
 * Returns false (and leaves everything unchanged) when `dir` exists and `overwrite` is not set.
 */
export function atomicWriteDir(dir: string, fill: (tmpDir: string) => void, overwrite: boolean): boolean {
  if (existsSync(dir) && !overwrite) return false;
  const tmp = tmpName(dir);
  mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (existsSync(dir)) {
    const old = tmpName(dir) + ".old";
    renameSync(dir, old);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      renameSync(old, dir);
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, dir);
  }
  return true;
}

/**
 * Makes `dir` and its missing parents one level at a time (Node's recursive mkdir never returns on some file systems,
 * /proc among them); a failure is a UserError naming the folder that could not be made.
 */
export function ensureDir(dir: string, what = "folder"): void {
  const missing: string[] = [];
  let d = resolve(dir);
  while (!existsSync(d)) {
    missing.push(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  if (existsSync(d) && !statSync(d).isDirectory()) throw new UserError(`${what} ${dir}: ${d} is not a folder`);
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && statSync(m).isDirectory()) continue;
      throw new UserError(`${what} ${dir}: cannot make ${m} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
}
