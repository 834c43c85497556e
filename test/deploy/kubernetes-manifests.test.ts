/**
 * deploy/kubernetes: every manifest parses and validates against the Kubernetes OpenAPI schema (and
 * the server-side rules the fake API server applies); the kustomization lists every file; the Role
 * grants exactly what the launcher calls; the rules file in the ConfigMap is a valid evalhook config;
 * the workers' grace period outlasts SHUTDOWN_GRACE_MS.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config.js';
import { validateObject } from '../fakes/kubernetes-schema.js';

const DIR = resolve(import.meta.dirname, '../../deploy/kubernetes');
type Obj = Record<string, any>; // loosely typed: request bodies and manifests as parsed

function docs(file: string): Obj[] {
  const parsed = parseAllDocuments(readFileSync(join(DIR, file), 'utf8'));
  for (const d of parsed) expect(d.errors, file).toEqual([]);
  return parsed.map((d) => d.toJS() as Obj).filter(Boolean);
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const manifests = files.filter((f) => f !== 'kustomization.yaml');
const objects = manifests.flatMap((f) => docs(f).map((o) => ({ file: f, o })));
const find = (kind: string, name: string) => objects.find(({ o }) => o.kind === kind && o.metadata?.name === name)?.o;

describe('deploy/kubernetes', () => {
  it.each(manifests)('%s validates against the Kubernetes schema', (file) => {
    const list = docs(file);
    expect(list.length).toBeGreaterThan(0);
    for (const o of list)
      expect(validateObject(o), `${file}: ${String(o.kind)} ${String(o.metadata?.name)}`).toEqual([]);
  });

  it('the validator is not a rubber stamp', () => {
    const api = structuredClone(find('Deployment', 'evalhook-api')!);
    api.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(validateObject(api).join()).toMatch(/containerPort/);
  });

  it('the kustomization lists every manifest, and its replacement targets exist', () => {
    const [k] = docs('kustomization.yaml');
    expect([...k!.resources].sort()).toEqual([...manifests].sort());
    expect(k!.namespace).toBe('evalhook');
    const worker = find('Deployment', 'evalhook-worker')!;
    const container = worker.spec.template.spec.containers.find((c: Obj) => c.name === 'worker');
    expect(container.image).toBe(k!.images[0].name);
    expect(container.env.some((e: Obj) => e.name === 'EVALHOOK_IMAGE')).toBe(true);
    const [component] = parseAllDocuments(
      readFileSync(join(DIR, 'components/external-redis/kustomization.yaml'), 'utf8'),
    ).map((d) => d.toJS() as Obj);
    expect(component!.kind).toBe('Component');
    for (const p of component!.patches as Obj[])
      expect(find(p.target.kind, p.target.name), `${p.target.kind}/${p.target.name}`).toBeDefined();
  });

  it('the Role allows exactly what the kubernetes launcher needs, for the workers only', () => {
    const role = find('Role', 'evalhook-inference')!;
    expect(role.rules).toEqual([
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'get', 'list', 'watch', 'delete'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ]);
    const binding = find('RoleBinding', 'evalhook-inference')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'evalhook-worker', namespace: 'evalhook' }]);
    expect(find('Deployment', 'evalhook-worker')!.spec.template.spec.serviceAccountName).toBe('evalhook-worker');
    expect(find('Deployment', 'evalhook-api')!.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it('probes, security contexts, grace period and Redis persistence are as documented', () => {
    const env = find('ConfigMap', 'evalhook-env')!.data;
    const api = find('Deployment', 'evalhook-api')!.spec.template.spec;
    expect(api.containers[0].readinessProbe.httpGet.path).toBe('/readyz');
    expect(api.containers[0].livenessProbe.httpGet.path).toBe('/healthz');
    const worker = find('Deployment', 'evalhook-worker')!.spec.template.spec;
    expect(worker.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(env.SHUTDOWN_GRACE_MS));
    for (const { o } of objects.filter(({ o }) => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
      const spec = o.spec.template.spec;
      expect(spec.securityContext.runAsNonRoot, o.metadata.name).toBe(true);
      for (const c of spec.containers)
        expect(c.securityContext, `${o.metadata.name}/${c.name}`).toMatchObject({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
    }
    const redis = find('StatefulSet', 'redis')!;
    expect(redis.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    expect(redis.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(objects.some(({ o }) => o.kind === 'PodDisruptionBudget')).toBe(true);
    expect(objects.some(({ o }) => o.kind === 'Secret')).toBe(false); // secrets by reference only
  });

  it('the rules file in the ConfigMap loads as an evalhook configuration with a kubernetes profile', () => {
    const env = find('ConfigMap', 'evalhook-env')!.data as Record<string, string>;
    const rules = find('ConfigMap', 'evalhook-rules')!.data['evalhook.yaml'] as string;
    const config = loadConfig({ ...env, WEBHOOK_TOKEN: 'w'.repeat(16), ADMIN_TOKEN: 'a'.repeat(16) }, () => rules);
    expect(config.profiles.get('k8s-lora')?.inference).toMatchObject({
      kind: 'kubernetes',
      image: 'vllm/vllm-openai:v0.11.0',
      wandbApiKeySecret: { name: 'evalhook', key: 'WANDB_API_KEY' },
    });
  });
});
