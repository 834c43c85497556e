/**
 * Download an artifact version (B4) into `<cacheDir>/artifacts/<digest>/`: every file md5- and
 * size-checked, manifest paths that could escape the directory refused, written to a temp directory
 * and renamed into place so a half-written cache entry is never visible. A cache hit makes no request.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, statfs, utimes } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { z } from 'zod';
import type { ResolvedArtifact } from '../ports.js';
import type { ArtifactResolver } from './artifacts.js';
import { withRetry, type RetryPolicy } from '../retry.js';
import { WandbError, type WandbClient } from './client.js';
import { ARTIFACT_FILE_URLS, ARTIFACT_MEMBERSHIP_FILE_URLS } from './documents.js';
import { unsafePathReason } from './names.js';
import { ArtifactFilesResponse, MembershipFilesResponse, type FilePage, type Manifest } from './responses.js';

export interface DownloadOptions {
  cacheDir: string;
  /** Files per page of presigned URLs. */
  perPage?: number;
  /** Only these manifest paths (see src/inference/adapter-files.ts); all when absent. */
  files?: readonly string[];
  /** Bytes fetched, chunk by chunk (for the per-evaluation download report). */
  onBytes?(n: number): void;
  /** ARTIFACT_MAX_GB in bytes: larger artifacts (sum of the manifest's sizes) are refused. */
  maxBytes?: number;
  /** ARTIFACT_CACHE_MAX_GB in bytes: after a download, least recently used entries go until the cache fits. */
  cacheMaxBytes?: number;
  /** Free bytes on the cache's filesystem (tests replace it). */
  freeBytes?: (dir: string) => Promise<number>;
}

/**
 * Whole-file attempts (each storage GET already has the client's own retries): 3 in all, with no
 * backoff of their own, since the storage client has waited out any outage before a failure gets here.
 */
const FILE_RETRY: RetryPolicy = { retries: 2, baseDelayMs: 0, maxDelayMs: 0, jitter: [1, 1] };

/** Room left on the disk after a download, so the evaluation itself can still write. */
const DISK_HEADROOM_BYTES = 1024 ** 3;

async function fsFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

export async function downloadArtifact(
  client: WandbClient,
  resolver: ArtifactResolver,
  artifact: ResolvedArtifact,
  opts: DownloadOptions,
  signal?: AbortSignal,
): Promise<string> {
  const root = join(opts.cacheDir, 'artifacts');
  const key = cacheKey(artifact) + selectionSuffix(opts.files);
  const target = join(root, key);
  if (await exists(target)) {
    await markUsed(target);
    return target;
  }

  const manifest = await resolver.manifest(artifact.id, signal);
  const wanted = opts.files ? new Set(opts.files) : undefined;
  const entries = Object.entries(manifest.contents).filter(([path]) => !wanted || wanted.has(path));
  for (const [path, e] of entries) {
    const reason = unsafePathReason(path);
    if (reason) throw new WandbError(`refusing manifest path "${path}" of ${artifact.fullName}: ${reason}`, false);
    if (e.ref)
      throw new WandbError(
        `${artifact.fullName} is a reference artifact (${path} -> ${e.ref}); its bytes are not in W&B storage`,
        false,
      );
  }
  const declared = entries.reduce((sum, [, e]) => sum + (e.size ?? 0), 0);
  if (opts.maxBytes !== undefined && declared > opts.maxBytes) {
    throw new WandbError(
      `${artifact.fullName} is ${gib(declared)}, above ARTIFACT_MAX_GB (${gib(opts.maxBytes)}); refusing to download it`,
      false,
    );
  }
  const expected = manifestDigest(manifest);
  if (artifact.digest && expected !== artifact.digest) {
    client.log.warn(
      { artifact: artifact.fullName, digest: artifact.digest, computed: expected },
      'manifest digest differs from the artifact digest',
    );
  }

  await mkdir(root, { recursive: true });
  const free = await (opts.freeBytes ?? fsFreeBytes)(root);
  if (free < declared + DISK_HEADROOM_BYTES) {
    // Retryable: eviction or another job's clean-up may make room.
    throw new WandbError(
      `not enough disk for ${artifact.fullName}: ${gib(declared)} needed plus ${gib(DISK_HEADROOM_BYTES)} headroom, ${gib(free)} free in ${root}`,
      true,
    );
  }
  const tmp = join(root, `.tmp-${key}-${randomBytes(6).toString('hex')}`);
  await mkdir(tmp);
  try {
    let urls = await fileUrls(client, artifact, opts.perPage ?? 200, signal);
    for (const [path, entry] of entries) {
      const dest = resolve(tmp, path);
      if (!dest.startsWith(tmp + sep))
        throw new WandbError(`refusing manifest path "${path}": escapes the target directory`, false);
      await mkdir(dirname(dest), { recursive: true });
      await withRetry(() => fetchFile(client, urls, path, dest, entry.digest, entry.size, signal, opts.onBytes), {
        policy: FILE_RETRY,
        signal,
        aborted: (s, raw) => raw ?? s.reason,
        sleep: client.sleep,
        classify: async (raw, retry) => {
          if (raw instanceof WandbError && (raw.status === 401 || raw.status === 403)) {
            if (retry >= FILE_RETRY.retries) return { error: raw, retryable: false };
            // Presigned URLs expire on long downloads: fetch fresh ones and try again (B4, _multipart.py).
            urls = await fileUrls(client, artifact, opts.perPage ?? 200, signal);
            return { error: raw, retryable: true };
          }
          // Anything else but a W&B refusal (a connection dropped mid-body) is worth another try from the start.
          return { error: raw, retryable: !(raw instanceof WandbError) || raw.retryable };
        },
        onRetry: (d, retry) =>
          client.log.warn(
            { path, attempt: retry + 1, err: d.error instanceof Error ? d.error.message : String(d.error) },
            'artifact file download failed, retrying',
          ),
      });
    }
    await rename(tmp, target).catch(async (err: unknown) => {
      // Another worker finished the same digest first: theirs is as good as ours.
      if (!(await exists(target))) throw err;
      await rm(tmp, { recursive: true, force: true });
    });
    client.log.info({ artifact: artifact.fullName, files: entries.length, dir: target }, 'artifact downloaded');
    await markUsed(target);
    if (opts.cacheMaxBytes !== undefined) {
      const evicted = await evictLru(root, opts.cacheMaxBytes, target).catch((err: unknown) => {
        client.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'artifact cache eviction failed');
        return [];
      });
      if (evicted.length) client.log.info({ evicted }, 'artifact cache: least recently used entries removed');
    }
    return target;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function fetchFile(
  client: WandbClient,
  urls: Map<string, string>,
  path: string,
  dest: string,
  md5: string,
  size: number | undefined,
  signal?: AbortSignal,
  onBytes?: (n: number) => void,
): Promise<void> {
  const url = urls.get(path);
  if (!url) throw new WandbError(`W&B listed no download URL for ${path}`, false);
  // No overall timeout: a multi-GB body legitimately takes long; the caller's signal still cancels.
  const res = await client.storage('GET', url, { signal, timeoutMs: 0 });
  if (!res.body) throw new WandbError(`empty body for ${path}`, true);
  const hash = createHash('md5');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      onBytes?.(chunk.length);
      // Stop at the declared size: a lying server cannot fill the disk.
      if (size !== undefined && bytes > size)
        return cb(new WandbError(`size mismatch for ${path}: manifest ${size}, server sent more`, false));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), tap, createWriteStream(dest), { signal });
  const got = hash.digest('base64');
  if (got !== md5) throw new WandbError(`md5 mismatch for ${path}: manifest ${md5}, downloaded ${got}`, false);
  if (size !== undefined && bytes !== size)
    throw new WandbError(`size mismatch for ${path}: manifest ${size}, downloaded ${bytes}`, false);
}

/** Presigned URLs for every file, paged; membership-based for registry views when the server has it (B4). */
async function fileUrls(
  client: WandbClient,
  a: ResolvedArtifact,
  perPage: number,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const urls = new Map<string, string>();
  const byMembership = await client.hasFeature('ARTIFACT_COLLECTION_MEMBERSHIP_FILES', signal);
  let cursor: string | null = null;
  for (;;) {
    let page: FilePage | null | undefined;
    if (byMembership) {
      const vars: Record<string, unknown> = {
        entity: a.entity,
        project: a.project,
        collection: a.collection,
        alias: a.version,
        cursor,
        perPage,
      };
      const r: z.infer<typeof MembershipFilesResponse> = await client.graphql(
        ARTIFACT_MEMBERSHIP_FILE_URLS,
        vars,
        MembershipFilesResponse,
        { signal },
      );
      page = r.project?.artifactCollection?.artifactMembership?.files;
    } else {
      const r: z.infer<typeof ArtifactFilesResponse> = await client.graphql(
        ARTIFACT_FILE_URLS,
        { id: a.id, cursor, perPage },
        ArtifactFilesResponse,
        { signal },
      );
      page = r.artifact?.files;
    }
    if (!page) throw new WandbError(`no file list for ${a.fullName}`, false);
    for (const e of page.edges) if (e.node) urls.set(e.node.name, e.node.directUrl);
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return urls;
    cursor = page.pageInfo.endCursor;
  }
}

/** B4: hex md5 of "wandb-artifact-manifest-v1\n" + sorted "<path>:<digest>\n". */
export function manifestDigest(m: Manifest): string {
  const h = createHash('md5').update('wandb-artifact-manifest-v1\n');
  for (const path of Object.keys(m.contents).sort()) h.update(`${path}:${m.contents[path]!.digest}\n`);
  return h.digest('hex');
}

/** Directory name for a digest: hex digests as they are, anything else hashed to stay path-safe. */
function cacheKey(a: ResolvedArtifact): string {
  if (/^[0-9a-f]{8,128}$/i.test(a.digest)) return a.digest.toLowerCase();
  return createHash('sha256')
    .update(a.digest || a.id)
    .digest('hex')
    .slice(0, 32);
}

/** A partial download gets its own cache entry, so a later full download never finds it. */
function selectionSuffix(files: readonly string[] | undefined): string {
  if (!files) return '';
  return `-only-${createHash('sha256')
    .update([...files].sort().join('\n'))
    .digest('hex')
    .slice(0, 16)}`;
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

/** Bytes under a directory (regular files, recursively). */
async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  }
  return total;
}

let lastUseMs = 0;

/**
 * The entry's mtime is its last use, which the LRU eviction reads. Every use (a download or a hit)
 * stamps it from one clock, strictly increasing in this process: a filesystem mtime (ns) next to a
 * Date (ms) could otherwise put a later use before an earlier one within the same millisecond.
 */
async function markUsed(dir: string): Promise<void> {
  lastUseMs = Math.max(Date.now(), lastUseMs + 1);
  const at = new Date(lastUseMs);
  await utimes(dir, at, at).catch(() => undefined);
}

/**
 * Remove least recently used cache entries (oldest mtime first; a hit touches it) until the cache
 * fits in maxBytes. `keep` (the entry just downloaded, about to be used) is never removed, and
 * in-progress temp directories are left alone. Returns the removed entry names.
 */
export async function evictLru(root: string, maxBytes: number, keep: string): Promise<string[]> {
  const entries = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.tmp-')) continue;
    const dir = join(root, e.name);
    entries.push({ dir, name: e.name, used: (await stat(dir)).mtimeMs, bytes: await sizeOf(dir) });
  }
  let total = entries.reduce((sum, e) => sum + e.bytes, 0);
  const removed: string[] = [];
  for (const e of entries.sort((a, b) => a.used - b.used)) {
    if (total <= maxBytes) break;
    if (e.dir === keep) continue;
    await rm(e.dir, { recursive: true, force: true });
    total -= e.bytes;
    removed.push(e.name);
  }
  return removed;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
