/**
 * Opens a `torch.save` file (the zip format torch has written since 1.6) without executing it:
 * `<name>/data.pkl` through the data-only unpickler, tensor bytes from `<name>/data/<key>` on demand.
 * The legacy (pre-zip) format is refused with a message saying so.
 */
import { open } from 'node:fs/promises';
import { CheckpointError } from './errors.js';
import { type PyTuple, StorageRef, storageDtype, type PyValue, type TensorRef } from './pickle-globals.js';
import { unpickle } from './pickle.js';
import { NotAZipError, openZip, type ZipReader } from './zip.js';

export interface TorchFileLimits {
  /** Largest data.pkl (the object graph, not the weights). */
  maxPickleBytes: number;
  /** Largest single storage. */
  maxStorageBytes: number;
}

export const DEFAULT_LIMITS: TorchFileLimits = {
  maxPickleBytes: 64 * 1024 * 1024,
  maxStorageBytes: 4 * 1024 * 1024 * 1024,
};

export interface TorchFile {
  root: PyValue;
  /** The tensor's elements, row-major and contiguous, in the file's (little-endian) byte order. */
  tensorBytes(t: TensorRef): Promise<Buffer>;
  close(): Promise<void>;
}

async function legacyOrGarbage(path: string): Promise<CheckpointError> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(8);
    await fh.read(head, 0, 8, 0);
    // The legacy format starts with a pickled magic number (protocol 2: 0x80 0x02 0x8a).
    if (head[0] === 0x80 && head[2] === 0x8a) {
      return new CheckpointError(
        "the file uses torch.save's legacy (non-zip) format, which evalhook does not read: save it with torch >= 1.6 defaults (no _use_new_zipfile_serialization=False)",
      );
    }
    return new CheckpointError('the file is not a PyTorch checkpoint (no zip archive inside)');
  } finally {
    await fh.close();
  }
}

export async function openTorchFile(path: string, limits: TorchFileLimits = DEFAULT_LIMITS): Promise<TorchFile> {
  let zip: ZipReader;
  try {
    zip = await openZip(path);
  } catch (err) {
    if (err instanceof NotAZipError) throw await legacyOrGarbage(path);
    throw err;
  }
  try {
    const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1)
      throw new CheckpointError(`expected one <name>/data.pkl in the checkpoint zip, found ${pkls.length}`);
    const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
    const order = zip.entries.has(`${prefix}byteorder`)
      ? (await zip.read(`${prefix}byteorder`, 16)).toString('ascii').trim()
      : 'little';
    if (order !== 'little')
      throw new CheckpointError(
        `the checkpoint was saved on a ${order}-endian machine; only little-endian checkpoints are read`,
      );

    const storages = new Map<string, StorageRef>();
    const root = unpickle(await zip.read(pkls[0]!, limits.maxPickleBytes), {
      persistentLoad(pid: PyTuple) {
        const [, cls, key, , numel] = pid.items;
        if (
          typeof key !== 'string' ||
          !/^\w+$/.test(key) ||
          typeof numel !== 'number' ||
          !Number.isInteger(numel) ||
          numel < 0
        ) {
          throw new CheckpointError('malformed storage reference in the checkpoint');
        }
        const { dtype, bytes } = storageDtype(cls);
        let s = storages.get(key);
        if (!s) {
          const entry = zip.entries.get(`${prefix}data/${key}`);
          if (!entry) throw new CheckpointError(`the checkpoint references storage ${key}, which it does not contain`);
          if (entry.size < numel * bytes)
            throw new CheckpointError(
              `storage ${key} holds ${entry.size} bytes, fewer than its ${numel} elements need`,
            );
          s = new StorageRef(key, dtype, bytes, numel);
          storages.set(key, s);
        } else if (s.dtype !== dtype) {
          throw new CheckpointError(`storage ${key} is read as both ${s.dtype} and ${dtype}`);
        }
        return s;
      },
    });

    // Read per tensor, not cached: a converter holds one tensor at a time, not the whole adapter.
    const storageBytes = (s: StorageRef) => zip.read(`${prefix}data/${s.key}`, limits.maxStorageBytes);

    async function tensorBytes(t: TensorRef): Promise<Buffer> {
      const src = await storageBytes(t.storage);
      const el = t.storage.elementBytes;
      const count = t.shape.reduce((a, d) => a * d, 1);
      let expected = 1;
      const contiguous = t.shape.every((_, i) => {
        const j = t.shape.length - 1 - i;
        const ok = t.shape[j] === 1 || t.stride[j] === expected;
        expected *= t.shape[j]!;
        return ok;
      });
      if (contiguous) return Buffer.from(src.subarray(t.offset * el, (t.offset + count) * el));
      // A view (transpose, slice): walk its indices row-major and copy element by element.
      const out = Buffer.alloc(count * el);
      const idx = new Array<number>(t.shape.length).fill(0);
      for (let n = 0; n < count; n++) {
        let at = t.offset;
        for (let d = 0; d < idx.length; d++) at += idx[d]! * t.stride[d]!;
        src.copy(out, n * el, at * el, at * el + el);
        for (let d = idx.length - 1; d >= 0; d--) {
          if (++idx[d]! < t.shape[d]!) break;
          idx[d] = 0;
        }
      }
      return out;
    }

    return { root, tensorBytes, close: () => zip.close() };
  } catch (err) {
    await zip.close();
    throw err;
  }
}
