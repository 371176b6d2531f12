// Memory of this process and of the machine: resident set size now and at its peak, and the memory available to
// allocate. On Linux the peak is the kernel's high-water mark (VmHWM in /proc/self/status) and the available memory
// is MemAvailable from /proc/meminfo (free memory plus caches the kernel can drop); elsewhere the peak is the largest
// sample taken and the available memory is os.freemem().
import { readFileSync } from "node:fs";
import { freemem } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

export const MIB = 2 ** 20;
export const GIB = 2 ** 30;

/** A "kB" field of a /proc file (e.g. "VmHWM", "MemAvailable") in bytes, or undefined when it cannot be read. */
export function procKbField(file: string, field: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Bytes that can be allocated without swapping or reclaiming others' memory, as far as the system tells. */
export function availableMemoryBytes(): number {
  return procKbField("/proc/meminfo", "MemAvailable") ?? freemem();
}

export interface ResidentSample {
  /** Resident set size now, bytes. */
  rss: number;
  /** Largest resident set size of the process so far, bytes. */
  peak: number;
}

/** Samples the resident set size and keeps its peak. */
export class ResidentMemory {
  private maxSeen = 0;

  sample(): ResidentSample {
    const rss = process.memoryUsage.rss();
    this.maxSeen = Math.max(this.maxSeen, rss);
    const hwm = process.platform === "linux" ? procKbField("/proc/self/status", "VmHWM") : undefined;
    return { rss, peak: Math.max(this.maxSeen, hwm ?? 0) };
  }
}

/** "1.23 GB" (GB = 2^30 bytes), for progress lines. */
export function formatGb(bytes: number): string {
  return `${(bytes / GIB).toFixed(2)} GB`;
}

/** "1.23 GB" from 1 GB up, "45.6 MB" (MB = 2^20 bytes) below, for messages. */
export function formatBytes(bytes: number): string {
  return bytes >= GIB ? formatGb(bytes) : `${(bytes / MIB).toFixed(1)} MB`;
}

let gcFn: (() => void) | undefined;

/**
 * A full garbage collection now (V8's `gc`, exposed on first use). ONNX Runtime's outputs reach JS as array buffers
 * whose memory lies outside V8's heap, and V8 paces its collections by the growth of its own heap: after runs that
 * return gigabytes (a large model's gradients, the optimiser's slices) the dead buffers of earlier runs can stay
 * resident for several steps. Code that handles such runs collects explicitly between them; so do memory readings
 * that should show only what is still held.
 */
export function collectGarbage(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) gcFn = g;
    else {
      setFlagsFromString("--expose-gc");
      gcFn = runInNewContext("gc") as () => void;
    }
  }
  gcFn();
}
