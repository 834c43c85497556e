import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { globToRegExp, isUrgent, route } from '../../src/server/routing.js';
import { parseArtifactPath, type Delivery } from '../../src/server/wandb-payload.js';

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
    const config = configWith([{ profile: 'quick', collections: ['llama-*'] }, { profile: 'ja', collections: ['*Japanese*'] }]);
    expect(route(config, d('o/wandb-registry-model/llama-3 8b:v2'))).toEqual(['quick']);
    expect(route(config, d('o/wandb-registry-model/Swallow Japanese SFT:v0'))).toEqual(['ja']);
    expect(route(config, d('o/wandb-registry-model/mistral:v0'))).toEqual([]);
  });

  it('matches registries by full project name, short name or the legacy model-registry', () => {
    const config = configWith([{ profile: 'full', registries: ['model'] }, { profile: 'quick', registries: ['model-registry'] }]);
    expect(route(config, d('o/wandb-registry-model/x:v1'))).toEqual(['full']);
    expect(route(config, d('team/model-registry/x:v1'))).toEqual(['quick']);
    expect(route(config, d('o/wandb-registry-datasets/x:v1'))).toEqual([]);
  });

  it('needs every named criterion: alias and event type together', () => {
    const config = configWith([{ profile: 'full', aliases: ['production', 'staging'], eventTypes: ['ADD_ARTIFACT_ALIAS'] }]);
    expect(route(config, d('o/wandb-registry-model/x:v1', { eventType: 'ADD_ARTIFACT_ALIAS', aliases: ['staging'] }))).toEqual(['full']);
    expect(route(config, d('o/wandb-registry-model/x:v1', { eventType: 'LINK_ARTIFACT', aliases: ['staging'] }))).toEqual([]);
    expect(route(config, d('o/wandb-registry-model/x:v1', { eventType: 'ADD_ARTIFACT_ALIAS', aliases: ['candidate'] }))).toEqual([]);
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

  it('escapes regex characters in globs', () => {
    expect(globToRegExp('a.b*').test('a.bc')).toBe(true);
    expect(globToRegExp('a.b*').test('axbc')).toBe(false);
    expect(globToRegExp('m?del').test('model')).toBe(true);
  });
});
