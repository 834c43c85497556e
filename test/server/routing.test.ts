import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { globMatch, isUrgent, route } from '../../src/server/routing.js';
import { parseArtifactPath, parseWebhookBody, type Delivery } from '../../src/server/wandb-payload.js';

const env = { WEBHOOK_TOKEN: 'x'.repeat(16), ADMIN_TOKEN: 'y'.repeat(16) };
const judge = { baseURL: 'https://judge.example/v1', model: 'judge-1' };

function configWith(rules: Array<Record<string, unknown>>, profiles: string[] = ['quick', 'full', 'ja']) {
  const file = { profiles: profiles.map((name) => ({ name, judge })), rules };
  return loadConfig({ ...env, EVALHOOK_CONFIG: 'rules.json' }, () => JSON.stringify(file));
}

function d(name: string, over: Partial<Delivery> = {}): Delivery {
  const path = parseArtifactPath(name);
  if ('error' in path) throw new Error(path.error);
  return { eventType: 'LINK_ARTIFACT', artifactName: name, path, aliases: path.alias ? [path.alias] : [], ...over };
}

describe('route', () => {
  it('sends everything to the default profile when there are no rules', () => {
    const config = loadConfig(env);
    expect(route(config, d('e/p/c:v1'))).toEqual(['default']);
  });

  it('matches collections by glob, including names with spaces', () => {
    const config = configWith([
      { profile: 'quick', collections: ['llama-*'] },
      { profile: 'ja', collections: ['*Japanese*'] },
    ]);
    expect(route(config, d('o/wandb-registry-model/llama-3 8b:v2'))).toEqual(['quick']);
    expect(route(config, d('o/wandb-registry-model/Swallow Japanese SFT:v0'))).toEqual(['ja']);
    expect(route(config, d('o/wandb-registry-model/mistral:v0'))).toEqual([]);
  });

  it('matches registries by full project name, short name or the legacy model-registry', () => {
    const config = configWith([
      { profile: 'full', registries: ['model'] },
      { profile: 'quick', registries: ['model-registry'] },
    ]);
    expect(route(config, d('o/wandb-registry-model/x:v1'))).toEqual(['full']);
    expect(route(config, d('team/model-registry/x:v1'))).toEqual(['quick']);
    expect(route(config, d('o/wandb-registry-datasets/x:v1'))).toEqual([]);
  });

  it('needs every named criterion: alias and event type together', () => {
    const config = configWith([
      { profile: 'full', aliases: ['production', 'staging'], eventTypes: ['ADD_ARTIFACT_ALIAS'] },
    ]);
    expect(
      route(config, d('o/wandb-registry-model/x:v1', { eventType: 'ADD_ARTIFACT_ALIAS', aliases: ['staging'] })),
    ).toEqual(['full']);
    expect(
      route(config, d('o/wandb-registry-model/x:v1', { eventType: 'LINK_ARTIFACT', aliases: ['staging'] })),
    ).toEqual([]);
    expect(
      route(config, d('o/wandb-registry-model/x:v1', { eventType: 'ADD_ARTIFACT_ALIAS', aliases: ['candidate'] })),
    ).toEqual([]);
  });

  it('treats LINK_MODEL and LINK_ARTIFACT as the same event', () => {
    const config = configWith([{ profile: 'quick', eventTypes: ['LINK_ARTIFACT'] }]);
    expect(route(config, d('e/p/c:v1', { eventType: 'LINK_MODEL' }))).toEqual(['quick']);
  });

  it('returns every matching profile once, in rule order', () => {
    const config = configWith([
      { profile: 'quick', collections: ['*'] },
      { profile: 'full', aliases: ['production'] },
      { profile: 'quick', registries: ['model'] },
    ]);
    expect(route(config, d('o/wandb-registry-model/c:production'))).toEqual(['quick', 'full']);
  });

  it('lets manual triggers past event-type filters', () => {
    const config = configWith([{ profile: 'quick', eventTypes: ['LINK_ARTIFACT'] }]);
    expect(route(config, d('e/p/c:v1', { eventType: 'MANUAL' }))).toEqual(['quick']);
  });

  it('marks manual and production-alias deliveries urgent', () => {
    expect(isUrgent(d('e/p/c:v1', { eventType: 'MANUAL' }))).toBe(true);
    expect(isUrgent(d('e/p/c:production'))).toBe(true);
    expect(isUrgent(d('e/p/c:v1'))).toBe(false);
  });

  it('treats regex characters in globs literally', () => {
    expect(globMatch('a.b*', 'a.bc')).toBe(true);
    expect(globMatch('a.b*', 'axbc')).toBe(false);
    expect(globMatch('m?del', 'model')).toBe(true);
    expect(globMatch('(x)+', '(x)+')).toBe(true);
  });

  it('agrees with the reference regex semantics on random globs and names', () => {
    // Reference: the old regex translation, fine on short inputs.
    const toRe = (g: string) =>
      new RegExp(
        `^${g
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
        's',
      );
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const alpha = ['a', 'b', '-', '*', '?'];
    let mismatches = 0;
    for (let i = 0; i < 5000; i++) {
      const glob = Array.from({ length: rnd(7) }, () => alpha[rnd(5)]).join('');
      const value = Array.from({ length: rnd(9) }, () => alpha[rnd(3)]).join('');
      if (globMatch(glob, value) !== toRe(glob).test(value)) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it('matches a many-star glob against a long name without backtracking (the regex took ~12 s)', () => {
    const value = `${'a-'.repeat(2000)}x`;
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) expect(globMatch('*-*-*-*-*-*-*-ja', value)).toBe(false);
    // ~1 ms per call expected even on a busy machine; the bound is 100x that, far below the regex's seconds.
    expect((performance.now() - t0) / 10).toBeLessThan(100);
  });

  it('refuses names longer than W&B allows at the edge, naming the field', () => {
    expect(
      parseWebhookBody({ event_type: 'LINK_ARTIFACT', artifact_version_string: `e/p/${'c'.repeat(4000)}:v1` }),
    ).toMatchObject({ kind: 'invalid', field: 'artifact_version_string' });
    expect(
      parseWebhookBody({ event_type: 'LINK_ARTIFACT', artifact_version_string: 'e/p/c:v1', alias: 'x'.repeat(129) }),
    ).toMatchObject({ kind: 'invalid', field: 'alias' });
    expect(
      parseWebhookBody({ event_type: 'LINK_ARTIFACT', artifact_version_string: `e/p/${'c'.repeat(128)}:v1` }).kind,
    ).toBe('delivery');
  });
});
