/**
 * Getting the bytes of a data file: from a local directory, or downloaded from its pinned URL,
 * sha256-verified and cached on disk (atomically, so a half-written file is never trusted).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { DataFile } from './sources.js';
import { EvalhookError } from '../errors.js';

export interface LoadedFile {
  /** Where the bytes came from, for messages (path or URL). */
  origin: string;
  text: string;
  sha256: string;
  /** true when the bytes are exactly the pinned upstream file. */
  pinned: boolean;
  /** Relative path that matched in a local data directory. */
  localPath?: string;
}

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

export async function readLocal(dataDir: string, file: DataFile): Promise<LoadedFile | undefined> {
  for (const rel of file.local) {
    const path = join(dataDir, rel);
    if (!existsSync(path)) continue;
    const bytes = await readFile(path);
    const sum = sha256(bytes);
    return { origin: path, text: bytes.toString('utf8'), sha256: sum, pinned: sum === file.sha256, localPath: rel };
  }
  return undefined;
}

export async function fetchPinned(
  file: DataFile,
  opts: { cacheDir: string; fetch?: typeof fetch; signal?: AbortSignal },
): Promise<LoadedFile> {
  const cached = join(opts.cacheDir, `${file.sha256.slice(0, 16)}-${basename(file.id)}`);
  if (existsSync(cached)) {
    const bytes = await readFile(cached);
    // Re-verify: a cache directory is just a directory and may have been tampered with or truncated.
    if (sha256(bytes) === file.sha256)
      return { origin: cached, text: bytes.toString('utf8'), sha256: file.sha256, pinned: true };
  }
  const doFetch = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(file.url, { signal: opts.signal });
  } catch (err) {
    throw new EvalhookError(
      'EVALHOOK_ERR_BENCHMARK_DATA',
      `downloading ${file.id} from ${file.url} failed: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err, retryable: !opts.signal?.aborted },
    );
  }
  if (!res.ok)
    throw new EvalhookError(
      'EVALHOOK_ERR_BENCHMARK_DATA',
      `downloading ${file.id} from ${file.url} failed: HTTP ${res.status}`,
      { retryable: res.status >= 500 || res.status === 429 },
    );
  const bytes = new Uint8Array(await res.arrayBuffer());
  const sum = sha256(bytes);
  if (sum !== file.sha256)
    throw new EvalhookError(
      'EVALHOOK_ERR_BENCHMARK_DATA',
      `checksum mismatch for ${file.id} from ${file.url}: expected sha256 ${file.sha256}, got ${sum}`,
    );
  await mkdir(opts.cacheDir, { recursive: true });
  const tmp = `${cached}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, cached);
  return { origin: file.url, text: Buffer.from(bytes).toString('utf8'), sha256: sum, pinned: true };
}
