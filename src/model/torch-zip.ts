// The zip container of PyTorch's checkpoint format (torch.save since 1.6): uncompressed ("stored") members under one
// top folder, e.g. "pytorch_model/data.pkl" and "pytorch_model/data/0". Only what that format uses is read: the end
// of central directory record (zip64 when sizes or offsets pass 4 GiB), central directory entries and local headers.
// Members are read through a file descriptor, one at a time, and checked against their CRC-32.
//
// The writer emits the same layout: every member stored, its data aligned to 64 bytes (as torch aligns storages),
// CRC-32 from zlib, zip64 records only when a size or offset needs them.

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { crc32 } from "node:zlib";
import { UserError } from "../util/errors.ts";
import { writeAll } from "../util/files.ts";

export interface ZipMember {
  name: string;
  /** Absolute offset of the member's data. */
  dataStart: number;
  size: number;
  crc: number;
}

export interface ZipReader {
  file: string;
  /** Members in central-directory order. */
  members: Map<string, ZipMember>;
  /** Reads a member whole, checking its CRC-32. */
  read(name: string): Uint8Array;
  close(): void;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const EOCD64_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

function readAt(fd: number, file: string, offset: number, length: number, what: string): Uint8Array {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, out, got, length - got, offset + got);
    if (n === 0) throw new UserError(`${file}: ${what}: the file ends at byte ${offset + got}, ${length - got} bytes short (truncated?)`);
    got += n;
  }
  return out;
}

/**
 * The last local header of a file whose directory is lost (torch writes sizes after the data, so members cannot be
 * skipped: the signature is searched for, backwards, in 1 MiB windows).
 */
function lastLocalMember(fd: number, size: number): { name: string; at: number } | null {
  const WINDOW = 1 << 20;
  for (let end = size; end > 0; end -= WINDOW - 64) {
    const start = Math.max(0, end - WINDOW);
    const buf = new Uint8Array(end - start);
    readSync(fd, buf, 0, buf.length, start);
    const dv = view(buf);
    for (let i = buf.length - 30; i >= 0; i--) {
      if (dv.getUint32(i, true) !== LOCAL_SIG) continue;
      const nameLen = dv.getUint16(i + 26, true);
      if (i + 30 + nameLen > buf.length) continue;
      const name = new TextDecoder("utf-8", { fatal: false }).decode(buf.subarray(i + 30, i + 30 + nameLen));
      if (/^[\x20-\x7e]+$/.test(name)) return { name, at: start + i };
    }
    if (start === 0) break;
  }
  return null;
}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
const u64 = (dv: DataView, at: number) => Number(dv.getBigUint64(at, true));

/** Opens a zip archive written by torch.save; errors name the file and, past the directory, the member. */
export function openZip(file: string): ZipReader {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (e) {
    throw new UserError(`cannot open ${file}: ${(e as Error).message}`);
  }
  try {
    const members = readDirectory(fd, file);
    return {
      file,
      members,
      read(name) {
        const m = members.get(name);
        if (!m) throw new UserError(`${file}: the archive has no member "${name}"`);
        const bytes = readAt(fd, file, m.dataStart, m.size, `member "${name}" (${m.size} bytes at byte ${m.dataStart})`);
        const got = crc32(bytes) >>> 0;
        if (got !== m.crc) {
          throw new UserError(
            `${file}: member "${name}" is corrupted: CRC-32 ${hex(got)}, the directory records ${hex(m.crc)}`,
          );
        }
        return bytes;
      },
      close: () => closeSync(fd),
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

const hex = (v: number) => "0x" + (v >>> 0).toString(16).padStart(8, "0");

function readDirectory(fd: number, file: string): Map<string, ZipMember> {
  const size = fstatSync(fd).size;
  if (size < 22) throw new UserError(`${file}: ${size} bytes, too short for a zip archive (PyTorch checkpoint)`);
  // The end record is the last 22 bytes plus a comment of at most 64 KiB.
  const tailLen = Math.min(size, 22 + 65535);
  const tail = readAt(fd, file, size - tailLen, tailLen, "end of central directory");
  const tv = view(tail);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    const head = readAt(fd, file, 0, 4, "header");
    if (view(head).getUint32(0, true) !== LOCAL_SIG) {
      throw new UserError(`${file}: no end of central directory record: not a zip archive (expected a torch.save checkpoint)`);
    }
    const last = lastLocalMember(fd, size);
    throw new UserError(
      `${file}: no end of central directory record: a truncated zip archive (${size} bytes)` +
        (last ? `; the last member that starts in the file is "${last.name}" at byte ${last.at}, so it or the directory after it was cut` : ""),
    );
  }
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX) {
    const locAt = size - tailLen + eocd - 20;
    if (locAt < 0) throw new UserError(`${file}: zip64 end of central directory locator is missing`);
    const loc = view(readAt(fd, file, locAt, 20, "zip64 locator"));
    if (loc.getUint32(0, true) !== EOCD64_LOCATOR_SIG) throw new UserError(`${file}: zip64 end of central directory locator is missing`);
    const recAt = u64(loc, 8);
    const rec = view(readAt(fd, file, recAt, 56, "zip64 end of central directory"));
    if (rec.getUint32(0, true) !== EOCD64_SIG) throw new UserError(`${file}: bad zip64 end of central directory record at byte ${recAt}`);
    count = u64(rec, 32);
    cdSize = u64(rec, 40);
    cdOffset = u64(rec, 48);
  }
  if (cdOffset + cdSize > size) {
    throw new UserError(`${file}: the central directory (${cdSize} bytes at byte ${cdOffset}) reaches past the end of the file (${size} bytes): truncated`);
  }
  const cd = readAt(fd, file, cdOffset, cdSize, "central directory");
  const cv = view(cd);
  const members = new Map<string, ZipMember>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || cv.getUint32(p, true) !== CENTRAL_SIG) throw new UserError(`${file}: central directory entry ${i} is corrupted`);
    const method = cv.getUint16(p + 10, true);
    const crc = cv.getUint32(p + 16, true);
    let csize = cv.getUint32(p + 20, true);
    let usize = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let local = cv.getUint32(p + 42, true);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    // Zip64 extended information: the 8-byte values of the fields that hold 0xffffffff, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const len = cv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (usize === U32_MAX) {
          usize = u64(cv, q);
          q += 8;
        }
        if (csize === U32_MAX) {
          csize = u64(cv, q);
          q += 8;
        }
        if (local === U32_MAX) local = u64(cv, q);
      }
      e += 4 + len;
    }
    if (method !== 0) {
      throw new UserError(`${file}: member "${name}" is compressed (method ${method}); torch.save stores members uncompressed`);
    }
    if (csize !== usize) throw new UserError(`${file}: member "${name}": stored sizes differ (${csize} vs ${usize})`);
    const lh = view(readAt(fd, file, local, 30, `local header of member "${name}"`));
    if (lh.getUint32(0, true) !== LOCAL_SIG) throw new UserError(`${file}: member "${name}": bad local header at byte ${local}`);
    const dataStart = local + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    if (dataStart + usize > size) {
      throw new UserError(
        `${file}: member "${name}" (${usize} bytes at byte ${dataStart}) reaches past the end of the file (${size} bytes): truncated`,
      );
    }
    members.set(name, { name, dataStart, size: usize, crc });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return members;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing.

export interface ZipWriter {
  /** Appends a stored member; its data starts at a multiple of 64 bytes. */
  add(name: string, data: Uint8Array): void;
  /** Writes the central directory. */
  finish(): void;
}

const ALIGN = 64;

/**
 * A zip writer over an open file descriptor (the caller writes the file atomically and closes it). Zip64 records are
 * written where a size, offset or count needs them, or everywhere with `zip64: true`.
 */
export function zipWriter(fd: number, opts: { zip64?: boolean } = {}): ZipWriter {
  const force = opts.zip64 ?? false;
  let pos = 0;
  const entries: { name: Uint8Array; crc: number; size: number; offset: number }[] = [];
  const emit = (b: Uint8Array) => {
    writeAll(fd, b);
    pos += b.length;
  };
  return {
    add(nameText, data) {
      const name = new TextEncoder().encode(nameText);
      const crc = crc32(data) >>> 0;
      const big = force || data.length >= U32_MAX || pos >= U32_MAX;
      // Local header: zip64 sizes in an extra field when needed, then padding (extra id 0x4246) to the alignment.
      const zip64Len = big ? 20 : 0;
      const base = pos + 30 + name.length + zip64Len;
      const pad = (ALIGN - ((base + 4) % ALIGN)) % ALIGN;
      const extraLen = zip64Len + 4 + pad;
      const h = new Uint8Array(30 + name.length + extraLen);
      const dv = view(h);
      dv.setUint32(0, LOCAL_SIG, true);
      dv.setUint16(4, big ? 45 : 20, true);
      dv.setUint32(14, crc, true);
      dv.setUint32(18, big ? U32_MAX : data.length, true);
      dv.setUint32(22, big ? U32_MAX : data.length, true);
      dv.setUint16(26, name.length, true);
      dv.setUint16(28, extraLen, true);
      h.set(name, 30);
      let q = 30 + name.length;
      if (big) {
        dv.setUint16(q, 0x0001, true);
        dv.setUint16(q + 2, 16, true);
        dv.setBigUint64(q + 4, BigInt(data.length), true);
        dv.setBigUint64(q + 12, BigInt(data.length), true);
        q += 20;
      }
      dv.setUint16(q, 0x4246, true);
      dv.setUint16(q + 2, pad, true);
      entries.push({ name, crc, size: data.length, offset: pos });
      emit(h);
      emit(data);
    },
    finish() {
      const cdStart = pos;
      for (const en of entries) {
        const big = force || en.size >= U32_MAX || en.offset >= U32_MAX;
        const extra = big ? 28 : 0;
        const c = new Uint8Array(46 + en.name.length + extra);
        const dv = view(c);
        dv.setUint32(0, CENTRAL_SIG, true);
        dv.setUint16(4, big ? 45 : 20, true);
        dv.setUint16(6, big ? 45 : 20, true);
        dv.setUint32(16, en.crc, true);
        dv.setUint32(20, big ? U32_MAX : en.size, true);
        dv.setUint32(24, big ? U32_MAX : en.size, true);
        dv.setUint16(28, en.name.length, true);
        dv.setUint16(30, extra, true);
        dv.setUint32(42, big ? U32_MAX : en.offset, true);
        c.set(en.name, 46);
        if (big) {
          const q = 46 + en.name.length;
          dv.setUint16(q, 0x0001, true);
          dv.setUint16(q + 2, 24, true);
          dv.setBigUint64(q + 4, BigInt(en.size), true);
          dv.setBigUint64(q + 12, BigInt(en.size), true);
          dv.setBigUint64(q + 20, BigInt(en.offset), true);
        }
        emit(c);
      }
      const cdSize = pos - cdStart;
      const big = force || entries.length >= U16_MAX || cdStart >= U32_MAX || cdSize >= U32_MAX;
      if (big) {
        const rec = new Uint8Array(56 + 20);
        const dv = view(rec);
        dv.setUint32(0, EOCD64_SIG, true);
        dv.setBigUint64(4, 44n, true);
        dv.setUint16(12, 45, true);
        dv.setUint16(14, 45, true);
        dv.setBigUint64(24, BigInt(entries.length), true);
        dv.setBigUint64(32, BigInt(entries.length), true);
        dv.setBigUint64(40, BigInt(cdSize), true);
        dv.setBigUint64(48, BigInt(cdStart), true);
        dv.setUint32(56, EOCD64_LOCATOR_SIG, true);
        dv.setBigUint64(64, BigInt(pos), true);
        dv.setUint32(72, 1, true);
        emit(rec);
      }
      const end = new Uint8Array(22);
      const dv = view(end);
      dv.setUint32(0, EOCD_SIG, true);
      dv.setUint16(8, big ? U16_MAX : entries.length, true);
      dv.setUint16(10, big ? U16_MAX : entries.length, true);
      dv.setUint32(12, big ? U32_MAX : cdSize, true);
      dv.setUint32(16, big ? U32_MAX : cdStart, true);
      emit(end);
    },
  };
}
