/**
 * Kubernetes credentials and profile validation: KUBECONFIG as the client loads it (an http server
 * with insecure-skip-tls-verify), no silent fallback to localhost, and profile fields held to the
 * API server's rules at config load.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createKubeApi, loadKubeConfig } from '../../src/inference/kubernetes/api.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes-api.js';
import { tempDir } from '../helpers/tmp.js';

let k8s: FakeKubernetes | undefined;
const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
afterEach(async () => {
  await k8s?.close();
  k8s = undefined;
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe('kubernetes credentials', () => {
  it('reads KUBECONFIG and talks to the server it names with its token', async () => {
    k8s = await startFakeKubernetes();
    process.env.KUBECONFIG = k8s.writeKubeconfig(tempDir('kc'));
    const kc = loadKubeConfig(process.env, tempDir('no-sa'));
    expect(kc.getCurrentCluster()?.server).toBe(k8s.url);
    expect(await createKubeApi(kc).listJobs('evalhook', 'app.kubernetes.io/managed-by=evalhook')).toEqual([]);
    expect(k8s.calls.at(-1)).toMatchObject({ path: '/apis/batch/v1/namespaces/evalhook/jobs', status: 200 });
  });

  it('without in-cluster credentials, KUBECONFIG or ~/.kube/config it refuses instead of trying localhost:8080', () => {
    delete process.env.KUBECONFIG;
    process.env.HOME = tempDir('empty-home');
    expect(() => loadKubeConfig(process.env, tempDir('no-sa'))).toThrow(/no Kubernetes credentials/);
  });
});

describe('kubernetes profile validation', () => {
  const env = { WEBHOOK_TOKEN: 'w'.repeat(16), ADMIN_TOKEN: 'a'.repeat(16), EVALHOOK_CONFIG: 'rules.json' };
  const load = (inference: Record<string, unknown>) => () =>
    loadConfig(env, () =>
      JSON.stringify({
        profiles: [
          {
            name: 'k',
            inference: {
              kind: 'kubernetes',
              image: 'vllm/vllm-openai:v0.11.0',
              args: ['--model', '{modelDir}'],
              wandbApiKeySecret: { name: 'wandb', key: 'api-key' },
              ...inference,
            },
          },
        ],
      }),
    );

  it('applies the documented defaults', () => {
    const k = load({})().profiles.get('k')!.inference;
    expect(k).toMatchObject({
      kind: 'kubernetes',
      gpus: 1,
      port: 8000,
      resources: {},
      nodeSelector: {},
      tolerations: [],
      env: [],
      startupTimeoutSeconds: 1800,
      activeDeadlineSeconds: 21600,
    });
    expect('namespace' in k && k.namespace).toBeFalsy();
  });

  it.each([
    [{ image: 'vllm/vllm-openai' }, 'inference.image'],
    [{ image: 'vllm/vllm-openai:latest' }, 'inference.image'],
    [{ namespace: 'Team_A' }, 'inference.namespace'],
    [{ env: [{ name: 'HF_TOKEN', value: 'hf_abc' }] }, 'inference.env.0.value'],
    [{ resources: { limits: { 'nvidia.com/gpu': 2 } } }, 'inference.resources'],
    [{ resources: { requests: { memory: '32 GB' } } }, 'inference.resources.requests.memory'],
    [{ tolerations: [{ key: 'x', effect: 'Sometimes' }] }, 'inference.tolerations.0.effect'],
    [{ wandbApiKeySecret: undefined }, 'inference.wandbApiKeySecret'],
    [{ port: 70000 }, 'inference.port'],
    [{ serviceAccountName: 'Evalhook Runner' }, 'inference.serviceAccountName'],
  ])('%j is refused at load, naming %s', (over, field) => {
    expect(load(over)).toThrow(new RegExp(`profile k: ${field.replaceAll('.', '\\.')}`));
  });
});
