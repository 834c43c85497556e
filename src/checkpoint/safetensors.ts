/**
 * safetensors, the format vLLM and PEFT load: an 8-byte little-endian header length, a JSON header
 * (`{name: {dtype, shape, data_offsets}}`, padded with spaces to 8 bytes), then the raw tensor bytes.
 * Written tensor by tensor so converting never holds the whole adapter in memory.
 */
import { open, readFile } from 'node:fs/promises';
import { CheckpointError } from './errors.js';

export interface SafetensorSpec {
  name: string;
  dtype: 'F32' | 'BF16' | 'F16';
  shape: number[];
  byteLength: number;
}

export async function writeSafetensors(
  path: string,
  specs: SafetensorSpec[],
  bytesOf: (spec: SafetensorSpec) => Promise<Buffer>,
  metadata: Record<string, string> = {},
): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
  let offset = 0;
  for (const s of specs) {
    header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + s.byteLength] };
    offset += s.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fh = await open(path, 'w', 0o644);
  try {
    await fh.write(Buffer.concat([len, Buffer.from(json)]));
    for (const s of specs) {
      const b = await bytesOf(s);
      if (b.length !== s.byteLength)
        throw new CheckpointError(`${s.name}: ${b.length} bytes, expected ${s.byteLength}`);
      await fh.write(b);
    }
  } finally {
    await fh.close();
  }
}

export interface ReadTensor {
  dtype: string;
  shape: number[];
  data: Buffer;
}

/** Reads a whole safetensors file (for checks and tests; adapters are small). */
export async function readSafetensors(
  path: string,
): Promise<{ tensors: Map<string, ReadTensor>; metadata: Record<string, string> }> {
  const buf = await readFile(path);
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw new CheckpointError(`${path}: header runs past the end of the file`);
  const header = JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<string, unknown>;
  const tensors = new Map<string, ReadTensor>();
  const body = buf.subarray(8 + n);
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const v = raw as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors.set(name, { dtype: v.dtype, shape: v.shape, data: body.subarray(v.data_offsets[0], v.data_offsets[1]) });
  }
  return { tensors, metadata: (header.__metadata__ ?? {}) as Record<string, string> };
}
