import { describe, expect, it } from 'vitest';
import { checkpointOf, parseArtifactPath, parseNodeId, runIdFor } from '../../src/wandb/index.js';
import { unsafePathReason } from '../../src/wandb/names.js';
import { WandbClient, retryableStatus } from '../../src/wandb/client.js';

describe('artifact names', () => {
  it('parses registry, legacy and short paths, spaces included', () => {
    expect(parseArtifactPath('acme-org/wandb-registry-Fine-tuned Models/my lora:v3')).toEqual({
      entity: 'acme-org',
      project: 'wandb-registry-Fine-tuned Models',
      registry: 'Fine-tuned Models',
      collection: 'my lora',
      version: 'v3',
    });
    expect(parseArtifactPath('wandb-registry-model/llama:production')).toEqual({
      project: 'wandb-registry-model',
      registry: 'model',
      collection: 'llama',
      alias: 'production',
    });
    expect(parseArtifactPath('wandb-artifact://e/p/c:v1')).toEqual({
      entity: 'e',
      project: 'p',
      collection: 'c',
      version: 'v1',
    });
    // The documented four-segment form parses (the webhook and the worker share this parser).
    expect(parseArtifactPath('acme/acme-team/llama-sft/adapter_checkpoint_2:v0')).toEqual({
      org: 'acme',
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'adapter_checkpoint_2',
      version: 'v0',
    });
    for (const bad of ['team/model-registry/coll', 'a/b/c/d/e:v1', 'only/two:v1'])
      expect(parseArtifactPath(bad)).toHaveProperty('error');
  });

  it('takes the id out of a wandb-artifact://_id/ URI', () => {
    expect(parseNodeId('wandb-artifact://_id/QXJ0aWZhY3Q6MTIz')).toBe('QXJ0aWZhY3Q6MTIz');
    expect(parseNodeId('QXJ0aWZhY3Q6MTIz')).toBe('QXJ0aWZhY3Q6MTIz');
  });

  it('derives the same URL-safe run id from the same evaluation id', () => {
    expect(runIdFor('e1')).toBe(runIdFor('e1'));
    expect(runIdFor('e1')).not.toBe(runIdFor('e2'));
    expect(runIdFor('x:y/z')).toMatch(/^mtb-[0-9a-f]{16}$/);
  });

  it('finds the epoch in metadata, then the checkpoint file, then the name suffix; the step in metadata', () => {
    expect(checkpointOf({ epoch: 2, global_step: '800' }, ['adapter_checkpoint_9'], 5)).toEqual({
      epoch: 2,
      step: 800,
    });
    expect(checkpointOf({ torchtune: { epoch: 3 } }, ['adapter_checkpoint_9'], 5)).toEqual({ epoch: 3 });
    expect(checkpointOf({ 'torchtune.epoch': 4, step: 100 }, [])).toEqual({ epoch: 4, step: 100 });
    expect(checkpointOf({}, ['adapter_checkpoint_9'], 5)).toEqual({ epoch: 5 });
    expect(checkpointOf({}, ['adapter_checkpoint_2'])).toEqual({ epoch: 2 });
    expect(checkpointOf({}, ['llama ft', 'adapter_checkpoint_2'])).toEqual({ epoch: 2 });
    expect(checkpointOf({ steps: 5, checkpoint_epoch: 1 }, ['deep-model'])).toEqual({});
  });

  it('refuses manifest paths that could escape', () => {
    for (const bad of ['', '/abs', 'C:/x', '..', 'a/../b', 'a\\b', 'a\0b', 'a//b', './a'])
      expect(unsafePathReason(bad)).toBeDefined();
    for (const ok of ['a', 'dir/file.bin', 'weird name (1).json', '..hidden'])
      expect(unsafePathReason(ok)).toBeUndefined();
  });
});

describe('client basics', () => {
  it('follows the B0 retry table', () => {
    for (const s of [500, 502, 503, 429, 408]) expect(retryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 409, 410, 413, 422, 501]) expect(retryableStatus(s)).toBe(false);
    expect(retryableStatus(409, true)).toBe(true);
  });

  it('maps API hosts to app hosts for run URLs', () => {
    expect(new WandbClient({ apiKey: 'k' }).appURL).toBe('https://wandb.ai');
    expect(new WandbClient({ apiKey: 'k', baseURL: 'https://api.acme.wandb.io/' }).appURL).toBe(
      'https://app.acme.wandb.io',
    );
    expect(new WandbClient({ apiKey: 'k', baseURL: 'http://wandb.internal:8080' }).appURL).toBe(
      'http://wandb.internal:8080',
    );
  });

  it('sends Basic api:<key> and checks the errors array of a 200', async () => {
    const seen: Array<Record<string, string>> = [];
    const fakeFetch = (async (_url: string | URL | Request, init?: RequestInit) => {
      seen.push(init?.headers as Record<string, string>);
      return new Response(JSON.stringify({ data: null, errors: [{ message: 'permission denied' }] }), { status: 200 });
    }) as typeof fetch;
    const logged: string[] = [];
    const log = (o: object, m?: string) => logged.push(JSON.stringify(o) + (m ?? ''));
    const c = new WandbClient({
      apiKey: 'secret-key-123',
      fetch: fakeFetch,
      logger: { info: log, warn: log, error: log, debug: log },
    });
    const err = (await c
      .graphql('query Viewer { viewer { id } }', {}, (await import('zod')).z.unknown())
      .catch((e: unknown) => e)) as { retryable: boolean; message: string };
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('permission denied');
    expect(seen[0]!.authorization).toBe('Basic ' + Buffer.from('api:secret-key-123').toString('base64'));
    expect(logged.join('\n')).not.toContain('secret-key-123');
  });
});
