import { describe, expect, it } from 'vitest';
import {
  parseArtifactPath,
  parseArtifactUri,
  parseManualArtifact,
  parseWebhookBody,
} from '../../src/server/wandb-payload.js';

describe('artifact_version_string', () => {
  it('parses the new Registry form with an org entity', () => {
    expect(parseArtifactPath('acme-org/wandb-registry-model/my-llm:v3')).toEqual({
      entity: 'acme-org',
      project: 'wandb-registry-model',
      registry: 'model',
      collection: 'my-llm',
      version: 'v3',
    });
  });

  it('parses the legacy Model Registry form with spaces in the collection (the observed delivery)', () => {
    expect(parseArtifactPath('wandb_course/model-registry/Lemon Mold Detector:v1')).toEqual({
      entity: 'wandb_course',
      project: 'model-registry',
      registry: 'model-registry',
      collection: 'Lemon Mold Detector',
      version: 'v1',
    });
  });

  it('keeps an alias apart from a version index', () => {
    const p = parseArtifactPath('team/wandb-registry-Fine-tuned Models/chat sft:production');
    expect(p).toMatchObject({
      project: 'wandb-registry-Fine-tuned Models',
      registry: 'Fine-tuned Models',
      collection: 'chat sft',
      alias: 'production',
    });
    expect(p).not.toHaveProperty('version');
  });

  it('accepts a registry path without an entity and one with an extra org prefix', () => {
    expect(parseArtifactPath('wandb-registry-model/coll:v0')).toMatchObject({
      project: 'wandb-registry-model',
      collection: 'coll',
      version: 'v0',
    });
    expect(parseArtifactPath('org/team/proj/coll:v9')).toMatchObject({
      org: 'org',
      entity: 'team',
      project: 'proj',
      collection: 'coll',
      version: 'v9',
    });
  });

  it('splits on the last colon only', () => {
    expect(parseArtifactPath('e/p/name with: colon:v2')).toMatchObject({
      collection: 'name with: colon',
      version: 'v2',
    });
  });

  it.each(['', 'no-colon', 'e/p/c:', ':v1', 'e//c:v1', 'only/two:v1', 'a/b/c/d/e:v1', 'e/p#x/c:v1', 'e/p/c:v1/evil'])(
    'rejects %j',
    (s) => {
      expect(parseArtifactPath(s)).toHaveProperty('error');
    },
  );
});

describe('artifact_version', () => {
  it('takes the node id out of the URI and checks that it decodes to a node id', () => {
    expect(parseArtifactUri('wandb-artifact://_id/QXJ0aWZhY3Q6MTU0NzI5Nzg2')).toEqual({
      id: 'QXJ0aWZhY3Q6MTU0NzI5Nzg2',
    });
    expect(parseArtifactUri('wandb-artifact://_id/bm90IGFuIGlk')).toHaveProperty('error'); // "not an id"
    expect(parseArtifactUri('wandb-artifact://entity/project/name:v1')).toHaveProperty('error');
    expect(parseArtifactUri('https://_id/QXJ0aWZhY3Q6MTU0NzI5Nzg2')).toHaveProperty('error');
  });
});

describe('parseWebhookBody', () => {
  const base = {
    event_type: 'ADD_ARTIFACT_ALIAS',
    event_author: 'hamelsmu',
    alias: 'candidate',
    artifact_version: 'wandb-artifact://_id/QXJ0aWZhY3Q6MTU0NzI5Nzg2',
    artifact_version_string: 'wandb_course/model-registry/Lemon Mold Detector:v1',
    artifact_collection_name: 'Lemon Mold Detector',
    project_name: 'model-registry',
    entity_name: 'wandb_course',
  };

  it('turns the real 2023 delivery into a delivery with id, name, alias and author', () => {
    const out = parseWebhookBody(base);
    expect(out).toMatchObject({
      kind: 'delivery',
      delivery: {
        eventType: 'ADD_ARTIFACT_ALIAS',
        artifactId: 'QXJ0aWZhY3Q6MTU0NzI5Nzg2',
        artifactName: base.artifact_version_string,
        aliases: ['candidate'],
        author: 'hamelsmu',
      },
    });
  });

  it.each(['LINK_ARTIFACT', 'LINK_MODEL', 'ADD_ARTIFACT_ALIAS', 'CREATE_ARTIFACT'])('accepts %s', (t) => {
    expect(parseWebhookBody({ ...base, event_type: t })).toMatchObject({
      kind: 'delivery',
      delivery: { eventType: t },
    });
  });

  it('treats the deprecated UPDATE_ARTIFACT_ALIAS as alias-added', () => {
    expect(parseWebhookBody({ ...base, event_type: 'UPDATE_ARTIFACT_ALIAS' })).toMatchObject({
      delivery: { eventType: 'ADD_ARTIFACT_ALIAS' },
    });
  });

  it.each(['RUN_STATE', 'ADD_ARTIFACT_TAG', 'BUILD_AND_DEPLOY'])('ignores %s with a reason', (t) => {
    const out = parseWebhookBody({ ...base, event_type: t });
    expect(out.kind).toBe('ignored');
    expect(out).toHaveProperty('reason', expect.stringContaining(t));
  });

  it('ignores a test delivery whose variables were never substituted', () => {
    expect(
      parseWebhookBody({ ...base, event_type: '${event_type}', artifact_version: '${artifact_version}' }),
    ).toMatchObject({ kind: 'ignored', reason: expect.stringMatching(/test delivery/) });
    expect(parseWebhookBody({ ...base, model_id: '${artifact_metadata.model_id}' })).toMatchObject({ kind: 'ignored' });
  });

  it('ignores an empty body (W&B Test button without a payload)', () => {
    expect(parseWebhookBody({})).toMatchObject({ kind: 'ignored' });
  });

  it('names the field when a version reference is malformed or missing', () => {
    expect(parseWebhookBody({ ...base, artifact_version: 'nope' })).toMatchObject({
      kind: 'invalid',
      field: 'artifact_version',
    });
    expect(parseWebhookBody({ ...base, artifact_version_string: 'nope' })).toMatchObject({
      kind: 'invalid',
      field: 'artifact_version_string',
    });
    expect(parseWebhookBody({ event_type: 'LINK_ARTIFACT' })).toMatchObject({
      kind: 'invalid',
      field: 'artifact_version_string',
    });
  });

  it('works from the node id alone and keeps collection/registry for routing', () => {
    const out = parseWebhookBody({
      event_type: 'LINK_MODEL',
      artifact_version: base.artifact_version,
      artifact_collection_name: 'c 1',
      project_name: 'wandb-registry-model',
    });
    expect(out).toMatchObject({
      kind: 'delivery',
      delivery: { artifactId: 'QXJ0aWZhY3Q6MTU0NzI5Nzg2', path: { collection: 'c 1', registry: 'model' } },
    });
  });
});

describe('parseManualArtifact', () => {
  it('accepts a full path or a node URI and reports the problem otherwise', () => {
    expect(parseManualArtifact('acme/wandb-registry-model/m:production')).toMatchObject({
      delivery: { eventType: 'MANUAL', aliases: ['production'] },
    });
    expect(parseManualArtifact('wandb-artifact://_id/QXJ0aWZhY3Q6MTU0NzI5Nzg2')).toMatchObject({
      delivery: { artifactId: 'QXJ0aWZhY3Q6MTU0NzI5Nzg2' },
    });
    expect(parseManualArtifact('just-a-name')).toHaveProperty('error');
  });
});
