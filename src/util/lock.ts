// Output locks: one writer per output file or folder. The lock is a small JSON file next to the target
// (`.NAME.lock` in the same folder) holding the holder's pid, host and start time, created with O_EXCL so that of
// two writers exactly one gets it. A second writer fails at once naming the holder. A lock whose holder is gone
// (same host, pid no longer running) is stale: it is reported and taken over. A lock held on another host cannot be
// checked from here; `force` breaks it.
import { closeSync, existsSync, openSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { UserError } from "./errors.ts";
import { ensureDir, writeAll } from "./files.ts";

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
  /** What the holder is doing (e.g. "train"), for the message a second writer sees. */
  command: string;
  token: string;
}

export interface OutputLock {
  /** The lock file. */
  readonly file: string;
  readonly holder: LockHolder;
  /** Removes the lock if it is still this one (idempotent). */
  release(): void;
}

export interface LockOptions {
  /** Named in the lock, and in the message a second writer gets. */
  command?: string;
  /** Break a lock that cannot be shown to be live (held on another host). */
  force?: boolean;
  /** Where stale-lock notices go (default: stderr). */
  log?: (line: string) => void;
}

/** The lock file of an output file or folder. */
export function lockFileOf(target: string): string {
  const abs = resolve(target);
  return join(dirname(abs), `.${basename(abs)}.lock`);
}

/** Whether a process with this pid runs on this host. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(file: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as Partial<LockHolder>;
    if (typeof v.pid !== "number" || typeof v.host !== "string") return null;
    return { pid: v.pid, host: v.host, started: String(v.started ?? "?"), command: String(v.command ?? "?"), token: String(v.token ?? "") };
  } catch {
    return null;
  }
}

function describe(h: LockHolder): string {
  return `${h.command} (pid ${h.pid} on ${h.host}, since ${h.started})`;
}

/** Creates the lock file with O_EXCL; false when it exists. */
function tryCreate(file: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(file, "wx");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    throw new UserError(`cannot write in ${dirname(file)}: the lock file ${basename(file)} cannot be made (${code ?? (e as Error).message})`);
  }
  try {
    writeAll(fd, Buffer.from(JSON.stringify(holder) + "\n"));
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Holds `fn` under a short-lived guard so that two writers never both break the same stale lock. */
function underGuard<T>(file: string, holder: LockHolder, fn: () => T): T | null {
  const guard = `${file}.break`;
  if (!tryCreate(guard, holder)) {
    const g = readHolder(guard);
    // A guard left by a writer killed while breaking a lock (its pid is gone) is removed; anything else: try later.
    const age = existsSync(guard) ? Date.now() - statSync(guard).mtimeMs : 0;
    if (g && g.host === holder.host && !pidAlive(g.pid)) rmSync(guard, { force: true });
    else if (!g && age > 10_000) rmSync(guard, { force: true });
    return null;
  }
  try {
    return fn();
  } finally {
    rmSync(guard, { force: true });
  }
}

/**
 * Takes the lock of `target` (a file or folder that need not exist; its parent folder must). Throws a UserError
 * naming the holder when another live writer has it.
 */
export function acquireOutputLock(target: string, opts: LockOptions = {}): OutputLock {
  const file = lockFileOf(target);
  const log = opts.log ?? ((s: string) => void process.stderr.write(s + "\n"));
  ensureDir(dirname(file), "output");
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: opts.command ?? "flythinker",
    token: randomBytes(8).toString("hex"),
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    if (tryCreate(file, me)) return lockHandle(file, me);
    const h = readHolder(file);
    if (h === null) {
      // Being written right now, or garbage: garbage older than a few seconds is broken.
      const age = existsSync(file) ? Date.now() - statSync(file).mtimeMs : Infinity;
      if (age < 5_000) continue;
    } else if (h.host === me.host) {
      if (pidAlive(h.pid)) {
        throw new UserError(`${target} is being written by ${describe(h)}; wait for it to finish or choose another output (lock: ${file})`);
      }
      log(`${target}: taking over the stale lock of ${describe(h)}, which is no longer running`);
    } else if (!opts.force) {
      throw new UserError(
        `${target} is locked by ${describe(h)}, which cannot be checked from ${me.host}; ` +
          `if that run is gone, pass --force to break the lock (lock: ${file})`,
      );
    } else {
      log(`${target}: breaking the lock of ${describe(h)} (--force)`);
    }
    const seen = h?.token;
    underGuard(file, me, () => {
      // Only the lock that was judged stale is removed (a new one taken meanwhile by another writer is kept).
      if (readHolder(file)?.token !== seen) return;
      const aside = `${file}.stale-${me.token}`;
      try {
        renameSync(file, aside);
      } catch {
        return;
      }
      rmSync(aside, { force: true });
    });
  }
  throw new UserError(`could not take the lock ${file} (another writer keeps changing it)`);
}

function lockHandle(file: string, holder: LockHolder): OutputLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener("exit", release);
    if (readHolder(file)?.token === holder.token) rmSync(file, { force: true });
  };
  process.on("exit", release);
  return { file, holder, release };
}

/** Runs `fn` holding the lock of `target`; the lock is released however `fn` ends. */
export async function withOutputLock<T>(target: string, opts: LockOptions, fn: () => Promise<T> | T): Promise<T> {
  const lock = acquireOutputLock(target, opts);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
