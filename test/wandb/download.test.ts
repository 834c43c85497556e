import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ResolvedArtifact } from '../../src/ports.js';
import { WandbError } from '../../src/wandb/index.js';
import { schemaMissing, setup } from './helpers.js';

type Setup = Awaited<ReturnType<typeof setup>>;
let s: Setup | undefined;
afterEach(async () => {
  await s?.wb.close();
  s = undefined;
});

const nonRetryable = (e: unknown) => e instanceof WandbError && !e.retryable;

describe.skipIf(schemaMissing)('download', () => {
  it('downloads every file into <cacheDir>/artifacts/<digest>/ with no auth on storage URLs', async () => {
    s = await setup({}, { filesPerPage: 1 });
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const dir = await s.wandb.artifacts.download(a);
    expect(dir).toBe(join(s.cacheDir, 'artifacts', a.digest));
    expect(readFileSync(join(dir, 'adapter_config.json'), 'utf8')).toContain('base_model_name_or_path');
    expect(readFileSync(join(dir, 'adapter_model.safetensors'))).toEqual(Buffer.alloc(4096, 7));
    const storage = s.wb.requests.filter((r) => r.path.startsWith('/storage/'));
    expect(storage.length).toBeGreaterThan(0);
    expect(storage.every((r) => !r.hadAuth)).toBe(true);
    // Paged file URLs: one file per page here.
    expect(s.wb.requests.filter((r) => r.operationName === 'GetArtifactMembershipFileUrls')).toHaveLength(2);
    // No temp directories left behind.
    expect(readdirSync(join(s.cacheDir, 'artifacts')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
  });

  it('downloads only the selected files into a cache entry of their own, counting the bytes fetched', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    let bytes = 0;
    const only = await s.wandb.artifacts.download(a, undefined, {
      files: ['adapter_config.json'],
      onBytes: (n) => (bytes += n),
    });
    expect(readdirSync(only)).toEqual(['adapter_config.json']);
    expect(bytes).toBe(readFileSync(join(only, 'adapter_config.json')).length);
    const fetched = s.wb.requests
      .filter((r) => r.path.startsWith('/storage/files/'))
      .map((r) => decodeURIComponent(r.path.split('/').pop() ?? ''));
    expect(fetched).toEqual(['adapter_config.json']);
    // A later full download never mistakes the partial entry for the whole artifact.
    const full = await s.wandb.artifacts.download(a);
    expect(full).not.toBe(only);
    expect(readdirSync(full).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    // A cache hit fetches nothing.
    bytes = 0;
    await s.wandb.artifacts.download(a, undefined, { files: ['adapter_config.json'], onBytes: (n) => (bytes += n) });
    expect(bytes).toBe(0);
  });

  it('makes no request on a cache hit', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    await s.wandb.artifacts.download(a);
    const before = s.wb.requests.length;
    const again = await s.wandb.artifacts.download(a);
    expect(s.wb.requests.length).toBe(before);
    expect(existsSync(join(again, 'adapter_config.json'))).toBe(true);
  });

  it('rejects a file whose md5 does not match the manifest and leaves no cache entry', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    s.wb.artifact(a.id).files.set('adapter_model.safetensors', Buffer.alloc(4096, 8));
    const err = await s.wandb.artifacts.download(a).catch((e: unknown) => e);
    expect(nonRetryable(err)).toBe(true);
    expect(String(err)).toMatch(/md5 mismatch/);
    expect(existsSync(join(s.cacheDir, 'artifacts', a.digest))).toBe(false);
    expect(readdirSync(join(s.cacheDir, 'artifacts'))).toEqual([]);
  });

  it.each(['../escape.txt', '/etc/evil', 'a\\..\\b', 'ok/../../up', 'nul\0byte'])(
    'refuses the manifest path %j',
    async (bad) => {
      s = await setup();
      const x = s.wb.seedArtifact({
        entity: 'acme-team',
        project: 'p',
        collection: 'evil',
        files: { [bad]: 'pwned', 'fine.txt': 'ok' },
      });
      // resolve already refuses it…
      const err1 = await s.wandb.artifacts.resolve({ name: x.fullName }).catch((e: unknown) => e);
      expect(nonRetryable(err1)).toBe(true);
      // …and so does download, for an artifact described by hand.
      const handMade: ResolvedArtifact = {
        id: x.id,
        entity: 'acme-team',
        project: 'p',
        collection: 'evil',
        version: 'v0',
        fullName: x.fullName,
        type: 'model',
        digest: s.wb.artifact(x.id).digest,
        aliases: [],
        metadata: {},
        files: [],
      };
      const err2 = await s.wandb.artifacts.download(handMade).catch((e: unknown) => e);
      expect(nonRetryable(err2)).toBe(true);
      expect(String(err2)).toMatch(/refusing manifest path/);
      expect(s.wb.requests.some((r) => r.path.startsWith('/storage/files/'))).toBe(false);
    },
  );

  it('retries a storage 5xx burst on download', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    s.wb.fail({ status: 503, times: 2, match: 'storage' });
    const dir = await s.wandb.artifacts.download(a);
    expect(existsSync(join(dir, 'adapter_model.safetensors'))).toBe(true);
  });

  it.each([403, 401])('fetches fresh presigned URLs when one has expired (%i)', async (status) => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    s.wb.fail({ status, times: 1, match: /^\/storage\/files\// });
    const dir = await s.wandb.artifacts.download(a);
    expect(existsSync(join(dir, 'adapter_model.safetensors'))).toBe(true);
    expect(s.wb.requests.filter((r) => r.operationName === 'GetArtifactMembershipFileUrls')).toHaveLength(2);
  });

  it('gives up after three whole-file attempts when fresh URLs keep being refused, each refusal refreshing them (the classifier hook)', async () => {
    s = await setup();
    const a = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    s.wb.fail({ status: 403, times: 100, match: /^\/storage\/files\// });
    await expect(s.wandb.artifacts.download(a)).rejects.toMatchObject({ status: 403, code: 'EVALHOOK_ERR_WANDB' });
    // one listing up front + one per refused attempt that is retried (2), none after the last
    expect(s.wb.requests.filter((r) => r.operationName === 'GetArtifactMembershipFileUrls')).toHaveLength(3);
  });
});
