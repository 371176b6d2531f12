// A restricted reader of the pickle programs torch.save writes (data.pkl of a PyTorch checkpoint). It interprets only
// the opcodes a state dict (and a DeepSpeed checkpoint's bookkeeping) uses, and never imports or calls anything: each
// global the stream names must be on an allow-list, where it maps to a plain TypeScript rebuild (an ordered dict, a
// tensor view of a storage, torch.Size, a DeepSpeed enum value or an inert record). Any other global, and any opcode
// outside the set, is refused with the file, the member, the byte offset and the name.
//
// Values: None -> null, bool, int -> number (bigint past 2^53), float, str, list and tuple -> arrays, dict and
// OrderedDict -> Map (keys kept as JS primitives), tensors -> TorchTensorRef (storage not read here).

import { UserError } from "../util/errors.ts";
import type { SafetensorsDtype } from "./safetensors.ts";

export interface TorchStorageRef {
  kind: "storage";
  /** The member "data/<key>" of the archive. */
  key: string;
  dtype: SafetensorsDtype;
  /** Torch's storage class name, e.g. "BFloat16Storage". */
  typeName: string;
  location: string;
  /** Elements in the storage. */
  numel: number;
}

export interface TorchTensorRef {
  kind: "tensor";
  storage: TorchStorageRef;
  /** In elements. */
  offset: number;
  shape: number[];
  /** In elements. */
  stride: number[];
}

/** An object of an allowed class, kept as data: never constructed, never run. */
export interface InertObject {
  kind: "object";
  className: string;
  args: PyValue[];
  state: PyValue;
}

export type PyKey = string | number | boolean | null | bigint;
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<PyKey, PyValue>
  | TorchTensorRef
  | TorchStorageRef
  | InertObject
  | GlobalRef;

/** Torch storage class -> element dtype (the names torch.save writes, legacy and typed). */
export const STORAGE_DTYPES: Readonly<Record<string, SafetensorsDtype>> = {
  FloatStorage: "F32",
  BFloat16Storage: "BF16",
  HalfStorage: "F16",
  DoubleStorage: "F64",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

/** Classes of DeepSpeed checkpoints read as inert records (their state is kept, nothing of theirs runs). */
const INERT_CLASSES = new Set([
  "deepspeed.runtime.fp16.loss_scaler.LossScaler",
  "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler",
  "deepspeed.utils.tensor_fragment.fragment_address",
  "argparse.Namespace",
]);

/** Integer enums whose value is all a checkpoint needs, with their members (Python 3.11+ pickles a member as
 * getattr(cls, name), older ones as cls(value)). */
const INT_ENUMS: ReadonlyMap<string, Readonly<Record<string, number>>> = new Map([
  ["deepspeed.runtime.zero.config.ZeroStageEnum", { disabled: 0, optimizer_states: 1, gradients: 2, weights: 3, max_stage: 3 }],
]);

type Global =
  | { kind: "ordered-dict" }
  | { kind: "rebuild-tensor" }
  | { kind: "rebuild-parameter" }
  | { kind: "size" }
  | { kind: "storage-type"; name: string; dtype: SafetensorsDtype | null }
  | { kind: "int-enum"; name: string }
  | { kind: "inert"; name: string }
  | { kind: "device" }
  | { kind: "codecs-encode" }
  | { kind: "set" }
  | { kind: "getattr" };

/** Every global this reader accepts, for error messages. */
export function allowedGlobals(): string[] {
  return [
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.Size",
    "torch.device",
    "_codecs.encode",
    "builtins.set",
    "builtins.getattr (on the enums below only)",
    ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
    ...INT_ENUMS.keys(),
    ...INERT_CLASSES,
  ];
}

function resolveGlobal(module: string, name: string, where: () => string): Global {
  const full = `${module}.${name}`;
  if (full === "collections.OrderedDict") return { kind: "ordered-dict" };
  if (full === "torch._utils._rebuild_tensor_v2") return { kind: "rebuild-tensor" };
  if (full === "torch._utils._rebuild_parameter") return { kind: "rebuild-parameter" };
  if (full === "torch.Size") return { kind: "size" };
  if (full === "torch.device") return { kind: "device" };
  if (full === "_codecs.encode") return { kind: "codecs-encode" };
  // Protocol 2 names builtins "__builtin__".
  if (full === "__builtin__.set" || full === "builtins.set") return { kind: "set" };
  if (full === "__builtin__.getattr" || full === "builtins.getattr") return { kind: "getattr" };
  if (module === "torch" && name.endsWith("Storage")) return { kind: "storage-type", name, dtype: STORAGE_DTYPES[name] ?? null };
  if (INT_ENUMS.has(full)) return { kind: "int-enum", name: full };
  if (INERT_CLASSES.has(full)) return { kind: "inert", name: full };
  throw new UserError(
    `${where()}: refers to the Python global ${full}, which this reader does not allow ` +
      `(it never runs code; allowed: tensors, storages, OrderedDict, torch.Size and DeepSpeed's bookkeeping classes)`,
  );
}

/** A global named by the stream (a class or function of the allow-list), not called. */
export interface GlobalRef {
  kind: "global";
  g: Global;
}
const MARK = Symbol("mark");
type StackItem = PyValue | typeof MARK;

const isGlobal = (v: StackItem): v is GlobalRef => typeof v === "object" && v !== null && !(v instanceof Map) && !Array.isArray(v) && !(v instanceof Uint8Array) && (v as { kind?: string }).kind === "global";

function asInt(v: StackItem, what: string, where: () => string): number {
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  if (typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw new UserError(`${where()}: ${what} must be an integer, got ${describe(v)}`);
}

function describeGlobal(g: Global): string {
  return "name" in g ? g.name : g.kind;
}

function describe(v: StackItem): string {
  if (v === MARK) return "a mark";
  if (v === null) return "None";
  if (Array.isArray(v)) return `a sequence of ${v.length}`;
  if (v instanceof Map) return "a dict";
  if (typeof v === "object") return (v as { kind: string }).kind;
  return JSON.stringify(typeof v === "bigint" ? String(v) : v);
}

function intList(v: StackItem, what: string, where: () => string): number[] {
  if (!Array.isArray(v)) throw new UserError(`${where()}: ${what} must be a tuple of integers, got ${describe(v)}`);
  return v.map((x) => asInt(x, what, where));
}

function toKey(v: StackItem, where: () => string): PyKey {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return v;
  if (Array.isArray(v)) return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? String(x) : x));
  throw new UserError(`${where()}: a dict key must be a string, number or tuple, got ${describe(v)}`);
}

/**
 * Interprets a pickle program. `file` and `member` name it in errors (e.g. "pytorch_model.bin", "archive/data.pkl").
 */
export function unpickle(bytes: Uint8Array, file: string, member: string): PyValue {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let opAt = 0;
  const where = () => `${file}: ${member}: byte ${opAt}`;
  const need = (n: number) => {
    if (pos + n > bytes.length) throw new UserError(`${where()}: the pickle ends inside an opcode's argument (truncated)`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), dv.getUint16(pos - 2, true));
  const i32 = () => (need(4), (pos += 4), dv.getInt32(pos - 4, true));
  const u32 = () => (need(4), (pos += 4), dv.getUint32(pos - 4, true));
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const utf8 = (b: Uint8Array) => new TextDecoder("utf-8").decode(b);
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new UserError(`${where()}: unterminated text line (truncated)`);
    const s = utf8(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, StackItem>();
  const pop = (): StackItem => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) {
      throw new UserError(`${where()}: stack underflow (corrupted pickle)`);
    }
    return stack.pop()!;
  };
  const top = (): StackItem => {
    if (stack.length === 0) throw new UserError(`${where()}: stack underflow (corrupted pickle)`);
    return stack[stack.length - 1]!;
  };
  const popMark = (): StackItem[] => {
    const m = marks.pop();
    if (m === undefined) throw new UserError(`${where()}: no mark on the stack (corrupted pickle)`);
    return stack.splice(m);
  };
  const value = (v: StackItem, what: string): PyValue => {
    if (v === MARK) throw new UserError(`${where()}: ${what} is a mark (corrupted pickle)`);
    return v;
  };
  const call = (fn: StackItem, args: StackItem, newobj: boolean): PyValue => {
    if (!isGlobal(fn)) throw new UserError(`${where()}: ${newobj ? "NEWOBJ" : "REDUCE"} on ${describe(fn)}, expected an allowed global`);
    if (!Array.isArray(args)) throw new UserError(`${where()}: call arguments must be a tuple, got ${describe(args)}`);
    const g = fn.g;
    switch (g.kind) {
      case "ordered-dict":
        if (args.length) throw new UserError(`${where()}: OrderedDict with arguments is not supported`);
        return new Map();
      case "size":
        return intList(args[0] ?? [], "torch.Size", where);
      case "device":
        return String(args[0]);
      case "codecs-encode": {
        // Protocol 2 writes bytes as _codecs.encode(text, "latin1").
        const text = String(args[0] ?? "");
        return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
      }
      case "int-enum":
        return asInt(args[0] ?? null, g.name, where);
      case "set": {
        const items = args[0] ?? [];
        if (!Array.isArray(items)) throw new UserError(`${where()}: set() of ${describe(items)}, expected a list`);
        return items;
      }
      case "getattr": {
        // Only an allowed enum's member: getattr on anything else could reach any attribute of anything.
        const [obj, name] = args;
        const e = obj !== undefined && isGlobal(obj) && obj.g.kind === "int-enum" ? INT_ENUMS.get(obj.g.name) : undefined;
        const v = e && typeof name === "string" ? e[name] : undefined;
        if (v === undefined) {
          throw new UserError(`${where()}: getattr(${obj !== undefined && isGlobal(obj) ? describeGlobal(obj.g) : describe(obj ?? null)}, ${JSON.stringify(name)}) is not allowed (only members of ${[...INT_ENUMS.keys()].join(", ")})`);
        }
        return v;
      }
      case "inert":
        return { kind: "object", className: g.name, args: args.map((a) => value(a, "an argument")), state: null };
      case "rebuild-parameter": {
        const t = args[0];
        if (!t || typeof t !== "object" || (t as TorchTensorRef).kind !== "tensor") {
          throw new UserError(`${where()}: _rebuild_parameter expects a tensor, got ${describe(t ?? null)}`);
        }
        return t as TorchTensorRef;
      }
      case "rebuild-tensor": {
        const [storage, offset, size, stride] = args;
        if (!storage || typeof storage !== "object" || (storage as TorchStorageRef).kind !== "storage") {
          throw new UserError(`${where()}: _rebuild_tensor_v2 expects a storage first, got ${describe(storage ?? null)}`);
        }
        const shape = intList(size ?? null, "the tensor size", where);
        const strides = intList(stride ?? null, "the tensor stride", where);
        if (strides.length !== shape.length) throw new UserError(`${where()}: size [${shape}] and stride [${strides}] differ in length`);
        return { kind: "tensor", storage: storage as TorchStorageRef, offset: asInt(offset ?? null, "the storage offset", where), shape, stride: strides };
      }
      case "storage-type":
        throw new UserError(`${where()}: torch.${g.name} called directly (storages come through persistent ids)`);
    }
  };
  const persistent = (pid: StackItem): PyValue => {
    // ("storage", storage type, key, location, numel)
    if (!Array.isArray(pid) || pid[0] !== "storage" || pid.length < 5) {
      throw new UserError(`${where()}: unsupported persistent id ${describe(pid)}, expected ("storage", type, key, location, numel)`);
    }
    const type = pid[1] as StackItem;
    if (!isGlobal(type) || type.g.kind !== "storage-type") throw new UserError(`${where()}: persistent id without a storage type`);
    if (type.g.dtype === null) {
      throw new UserError(
        `${where()}: storage of type torch.${type.g.name} is not supported (supported element types: ` +
          `${Object.keys(STORAGE_DTYPES).join(", ")})`,
      );
    }
    return {
      kind: "storage",
      key: String(pid[2]),
      dtype: type.g.dtype,
      typeName: type.g.name,
      location: String(pid[3]),
      numel: asInt(pid[4] as StackItem, "the storage size", where),
    };
  };
  const setItems = (d: StackItem, items: StackItem[]) => {
    if (!(d instanceof Map)) throw new UserError(`${where()}: SETITEM on ${describe(d)}, expected a dict`);
    if (items.length % 2) throw new UserError(`${where()}: odd number of items for a dict`);
    for (let i = 0; i < items.length; i += 2) d.set(toKey(items[i]!, where), value(items[i + 1]!, "a dict value"));
  };
  const append = (l: StackItem, items: StackItem[]) => {
    if (!Array.isArray(l)) throw new UserError(`${where()}: APPEND on ${describe(l)}, expected a list`);
    for (const it of items) l.push(value(it, "a list item"));
  };
  for (;;) {
    opAt = pos;
    if (pos >= bytes.length) throw new UserError(`${where()}: the pickle ends without STOP (truncated)`);
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw new UserError(`${where()}: pickle protocol above 5`);
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) throw new UserError(`${where()}: STOP with ${stack.length} items on the stack (corrupted pickle)`);
        return value(stack[0]!, "the result");
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
        stack.push(popMark().map((v) => value(v, "a tuple item")));
        break;
      case 0x85: // TUPLE1
        stack.push([value(pop(), "a tuple item")]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([value(a, "a tuple item"), value(b, "a tuple item")]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([value(a, "a tuple item"), value(b, "a tuple item"), value(c, "a tuple item")]);
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark().map((v) => value(v, "a list item")));
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new Map<PyKey, PyValue>();
        setItems(d, items);
        stack.push(d);
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(utf8(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(utf8(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) throw new UserError(`${where()}: memo entry ${i} was never stored (corrupted pickle)`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push({ kind: "global", g: resolveGlobal(module, name, where) });
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw new UserError(`${where()}: STACK_GLOBAL needs two strings`);
        stack.push({ kind: "global", g: resolveGlobal(module, name, where) });
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args, false));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args, true));
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x62: {
        // BUILD: object state. An OrderedDict's state (torch's _metadata) and an inert record's are kept as data.
        const state = value(pop(), "the state");
        const obj = top();
        if (obj && typeof obj === "object" && (obj as InertObject).kind === "object") (obj as InertObject).state = state;
        else if (!(obj instanceof Map) && !(obj && typeof obj === "object" && (obj as TorchTensorRef).kind === "tensor")) {
          throw new UserError(`${where()}: BUILD on ${describe(obj)}`);
        }
        break;
      }
      case 0x8f: // EMPTY_SET (protocol 4): kept as a list
        stack.push([]);
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(popMark().map((v) => value(v, "a set item")));
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        throw new UserError(
          `${where()}: pickle opcode 0x${op.toString(16).padStart(2, "0")} is not one this reader interprets ` +
            `(it reads the subset torch.save writes for tensors and state dicts)`,
        );
    }
  }
}
