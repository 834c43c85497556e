/**
 * Downloads under abuse (issue 14, item 7): reading stops at the declared size, artifacts above
 * ARTIFACT_MAX_GB and downloads that would not fit the disk are refused before any byte is
 * fetched, and the artifact cache is evicted least-recently-used above ARTIFACT_CACHE_MAX_GB.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WandbError } from '../../src/wandb/index.js';
import { schemaMissing, setup } from './helpers.js';

type Setup = Awaited<ReturnType<typeof setup>>;
let s: Setup | undefined;
afterEach(async () => {
  await s?.wb.close();
  s = undefined;
});

const storageGets = (x: Setup) => x.wb.requests.filter((r) => r.path.startsWith('/storage/files/')).length;

describe.skipIf(schemaMissing)('download limits', () => {
  it('stops reading at the declared size: a server sending 64 MiB for a 4 KiB file is cut off', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    s.wb.artifact(a.id).files.set('adapter_model.safetensors', Buffer.alloc(64 * 1024 * 1024, 7));
    const err = await s.wandb.artifacts.download(a).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WandbError);
    expect((err as WandbError).retryable).toBe(false);
    expect(String(err)).toMatch(/size mismatch for adapter_model\.safetensors: manifest 4096, server sent more/);
    expect(readdirSync(join(s.cacheDir, 'artifacts'))).toEqual([]);
  });

  it('refuses an artifact above ARTIFACT_MAX_GB before fetching a byte', async () => {
    s = await setup({}, { artifactMaxBytes: 1_000 });
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const err = await s.wandb.artifacts.download(a).catch((e: unknown) => e);
    expect(String(err)).toMatch(/above ARTIFACT_MAX_GB/);
    expect((err as WandbError).retryable).toBe(false);
    expect(storageGets(s)).toBe(0);
  });

  it('checks free disk first: not enough room is a retryable failure with no byte fetched', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const { downloadArtifact } = await import('../../src/wandb/download.js');
    const { ArtifactResolver } = await import('../../src/wandb/artifacts.js');
    const err = await downloadArtifact(s.wandb.client, new ArtifactResolver(s.wandb.client, {}), a, {
      cacheDir: s.cacheDir,
      freeBytes: async () => 10 * 1024,
    }).catch((e: unknown) => e);
    expect(String(err)).toMatch(/not enough disk/);
    expect((err as WandbError).retryable).toBe(true);
    expect(storageGets(s)).toBe(0);
  });

  it('evicts the least recently used cache entries above ARTIFACT_CACHE_MAX_GB; a cache hit counts as a use', async () => {
    // Each artifact is ~4.1 KiB: two fit in 9 KiB, three do not.
    s = await setup({}, { artifactCacheMaxBytes: 9 * 1024 });
    const wb = s.wb;
    const seed = (name: string, fill: number) =>
      wb.seedArtifact({
        entity: 'acme-team',
        project: 'p',
        collection: name,
        files: { 'adapter_config.json': '{}', 'adapter_model.safetensors': Buffer.alloc(4096, fill) },
      });
    const [x, y, z] = [seed('a', 1), seed('b', 2), seed('c', 3)];
    const resolve = (fullName: string) => s!.wandb.artifacts.resolve({ name: fullName });
    const [a, b, c] = [await resolve(x.fullName), await resolve(y.fullName), await resolve(z.fullName)];
    const dirA = await s.wandb.artifacts.download(a);
    const dirB = await s.wandb.artifacts.download(b);
    await s.wandb.artifacts.download(a); // hit: A is now more recent than B
    const dirC = await s.wandb.artifacts.download(c);
    expect(existsSync(dirA)).toBe(true);
    expect(existsSync(dirB)).toBe(false);
    expect(existsSync(dirC)).toBe(true);
  });
});
