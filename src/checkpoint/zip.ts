/**
 * A read-only zip reader for PyTorch checkpoints: the central directory (zip64 too, as torch writes
 * it for large files), then entries read on demand by offset, stored or deflated (node:zlib
 * inflateRaw). Sizes are checked against limits before anything is allocated, so a hostile archive
 * cannot make us read or inflate more than it declares.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { CheckpointError } from './errors.js';

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  /** Offset of the local file header. */
  offset: number;
}

export interface ZipReader {
  entries: Map<string, ZipEntry>;
  read(name: string, maxBytes?: number): Promise<Buffer>;
  close(): Promise<void>;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead !== length)
    throw new CheckpointError(`truncated zip: wanted ${length} bytes at ${position}, got ${bytesRead}`);
  return buf;
}

const u64 = (b: Buffer, at: number) => {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError('zip64 value out of range');
  return Number(v);
};

/** Opens `path` as a zip; `isZip` false (no end-of-central-directory record) lets callers say what else it may be. */
export async function openZip(path: string, opts: { maxEntries?: number } = {}): Promise<ZipReader> {
  const fh = await open(path, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const tailLen = Math.min(fileSize, 22 + 0xffff);
    const tail = await readAt(fh, fileSize - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new NotAZipError();
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || tail.readUInt32LE(loc) !== EOCD64_LOCATOR)
        throw new CheckpointError('zip64 end-of-central-directory locator missing');
      const rec = await readAt(fh, u64(tail, loc + 8), 56);
      if (rec.readUInt32LE(0) !== EOCD64) throw new CheckpointError('zip64 end-of-central-directory record missing');
      count = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
    }
    if (count > (opts.maxEntries ?? 100_000))
      throw new CheckpointError(`the zip lists ${count} entries; refusing more than ${opts.maxEntries ?? 100_000}`);
    if (cdOffset + cdSize > fileSize) throw new CheckpointError('zip central directory lies outside the file');
    const cd = await readAt(fh, cdOffset, cdSize);
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL)
        throw new CheckpointError('corrupt zip central directory');
      const method = cd.readUInt16LE(p + 10);
      let compressedSize = cd.readUInt32LE(p + 20);
      let size = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let offset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // zip64 extra field: only the values that overflowed are present, in this order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) ((size = u64(cd, q)), (q += 8));
          if (compressedSize === 0xffffffff) ((compressedSize = u64(cd, q)), (q += 8));
          if (offset === 0xffffffff) offset = u64(cd, q);
        }
        e += 4 + len;
      }
      entries.set(name, { name, method, compressedSize, size, offset });
      p = extraEnd + commentLen;
    }

    async function read(name: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
      const entry = entries.get(name);
      if (!entry) throw new CheckpointError(`the checkpoint has no ${name}`);
      if (entry.size > maxBytes) throw new CheckpointError(`${name} is ${entry.size} bytes; the limit is ${maxBytes}`);
      const local = await readAt(fh, entry.offset, 30);
      if (local.readUInt32LE(0) !== LOCAL) throw new CheckpointError(`corrupt zip: no local header for ${name}`);
      const start = entry.offset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (start + entry.compressedSize > fileSize)
        throw new CheckpointError(`corrupt zip: ${name} runs past the end of the file`);
      const raw = await readAt(fh, start, entry.compressedSize);
      if (entry.method === 0) {
        if (entry.compressedSize !== entry.size)
          throw new CheckpointError(`corrupt zip: stored entry ${name} has two sizes`);
        return raw;
      }
      if (entry.method === 8) {
        // maxOutputLength stops a zip bomb at the declared size.
        let out: Buffer;
        try {
          out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
        } catch (err) {
          throw new CheckpointError(
            `corrupt zip: ${name} does not inflate to its declared ${entry.size} bytes (${err instanceof Error ? err.message : String(err)})`,
          );
        }
        if (out.length !== entry.size)
          throw new CheckpointError(`corrupt zip: ${name} inflates to ${out.length} bytes, not ${entry.size}`);
        return out;
      }
      throw new CheckpointError(
        `${name} uses zip compression method ${entry.method}; only stored and deflate are read`,
      );
    }

    return { entries, read, close: () => fh.close() };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

export class NotAZipError extends CheckpointError {
  constructor() {
    super('not a zip archive');
  }
}
