// Shared-memory protocol between PairDecoder (main thread) and the Reasoner worker (parallel decoding).
//
// A step must hand the tokens to the worker and the thoughts back with as little latency as possible, so neither side
// goes through its event loop: requests and replies are sequence numbers in a shared Int32Array, woken with
// Atomics.notify; token ids and thoughts live in shared buffers. Rare messages (new, larger buffers; error text) go
// over a MessagePort that the other side reads synchronously with receiveMessageOnPort.
//
// A request's integers, in the shared `ids` buffer (CTRL.length of them):
//   prefill: [rows, length of each row..., the rows' ids one after another]  -> every position's thought, row by row
//   step:    [rows, one token per row...]                                     -> one thought per row
//   keep:    [rows kept, their indices in the current batch...]              -> nothing (the cache drops the others)
//   add:     as prefill, rows that join the running batch (after its rows)    -> every position's thought of the new rows

/** Slots of the control array. */
export const CTRL = {
  /** Sequence number of the latest request (main writes). */
  request: 0,
  /** Sequence number of the latest finished request (worker writes). */
  done: 1,
  /** What the request asks for (one of KIND). */
  kind: 2,
  /** How many integers of the ids buffer the request uses. */
  length: 3,
  /** 0 = the finished request succeeded, 1 = it failed (the message is on the port). */
  failed: 4,
} as const;
export const CTRL_SLOTS = 5;

export const KIND = { step: 1, prefill: 2, keep: 3, buffers: 4, stop: 5, add: 6 } as const;

/** Shared buffers sized for `capacity` positions: request integers in ([capacity]), thoughts [capacity, width] out. */
export interface ReasonerBuffers {
  ids: SharedArrayBuffer;
  thoughts: SharedArrayBuffer;
  capacity: number;
}

export function allocateBuffers(capacity: number, width: number): ReasonerBuffers {
  return {
    ids: new SharedArrayBuffer(capacity * Int32Array.BYTES_PER_ELEMENT),
    thoughts: new SharedArrayBuffer(capacity * width * Float32Array.BYTES_PER_ELEMENT),
    capacity,
  };
}

/** Writes a prefill's integers ([rows, lengths..., ids...]); returns how many were written. */
export function writePrompts(ints: Int32Array, rows: readonly (readonly number[])[]): number {
  ints[0] = rows.length;
  ints.set(rows.map((r) => r.length), 1);
  let at = 1 + rows.length;
  for (const r of rows) {
    ints.set(r, at);
    at += r.length;
  }
  return at;
}

/** Reads the rows written by writePrompts. */
export function readPrompts(ints: Int32Array): number[][] {
  const rows: number[][] = [];
  let at = 1 + ints[0]!;
  for (let r = 0; r < ints[0]!; r++) {
    const n = ints[1 + r]!;
    rows.push(Array.from(ints.subarray(at, at + n)));
    at += n;
  }
  return rows;
}

/** Writes a step's or keep's integers ([count, values...]); returns how many were written. */
export function writeList(ints: Int32Array, values: readonly number[]): number {
  ints[0] = values.length;
  ints.set(values, 1);
  return 1 + values.length;
}

/** Reads the values written by writeList. */
export function readList(ints: Int32Array): number[] {
  return Array.from(ints.subarray(1, 1 + ints[0]!));
}

/** Port messages: buffers (main -> worker), an error (worker -> main). */
export type PortMessage = { type: "buffers"; buffers: ReasonerBuffers } | { type: "error"; message: string };

/**
 * Spins while ctrl[index] === value, for at most `ms` milliseconds; true once it changed. Waking a sleeping thread
 * (Atomics.wait) costs tens of microseconds, more on a virtual machine whose idle core was halted. The main thread
 * spins when the thought is late (it is on the critical path then); the worker sleeps between steps, as its wake-up
 * is hidden behind the Generator's step and a spinning worker crowds out other threads on a small machine.
 */
export function spinWhile(ctrl: Int32Array, index: number, value: number, ms: number): boolean {
  const end = performance.now() + ms;
  for (;;) {
    for (let i = 0; i < 256; i++) if (Atomics.load(ctrl, index) !== value) return true;
    if (performance.now() >= end) return Atomics.load(ctrl, index) !== value;
  }
}

/** How long the main thread spins before it sleeps: about a decoding step of the small models this is tuned on. */
export const SPIN_MS = 2;
