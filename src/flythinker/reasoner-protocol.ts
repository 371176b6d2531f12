// Shared-memory protocol between PairDecoder (main thread) and the Reasoner worker (parallel decoding).
//
// A step must hand one token to the worker and one thought back with as little latency as possible, so neither side
// goes through its event loop: requests and replies are sequence numbers in a shared Int32Array, woken with
// Atomics.notify; token ids and thoughts live in shared buffers. Rare messages (new, larger buffers; error text) go
// over a MessagePort that the other side reads synchronously with receiveMessageOnPort.

/** Slots of the control array. */
export const CTRL = {
  /** Sequence number of the latest request (main writes). */
  request: 0,
  /** Sequence number of the latest finished request (worker writes). */
  done: 1,
  /** What the request asks for (one of KIND). */
  kind: 2,
  /** The token of a step. */
  token: 3,
  /** The number of ids of a prefill. */
  length: 4,
  /** 0 = the finished request succeeded, 1 = it failed (the message is on the port). */
  failed: 5,
} as const;
export const CTRL_SLOTS = 6;

export const KIND = { step: 1, prefill: 2, buffers: 3, stop: 4 } as const;

/** Shared buffers sized for `capacity` positions: prompt ids in, thoughts [capacity, dR] out. */
export interface ReasonerBuffers {
  ids: SharedArrayBuffer;
  thoughts: SharedArrayBuffer;
  capacity: number;
}

export function allocateBuffers(capacity: number, dR: number): ReasonerBuffers {
  return {
    ids: new SharedArrayBuffer(capacity * Int32Array.BYTES_PER_ELEMENT),
    thoughts: new SharedArrayBuffer(capacity * dR * Float32Array.BYTES_PER_ELEMENT),
    capacity,
  };
}

/** Port messages: buffers (main -> worker), an error (worker -> main). */
export type PortMessage = { type: "buffers"; buffers: ReasonerBuffers } | { type: "error"; message: string };
