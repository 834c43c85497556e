/** Shared by the kubernetes launcher tests: a client wired to the fake API server, requests, profiles. */
import { KubeConfig } from '@kubernetes/client-node';
import type { ProfileInput } from '../../src/profile.js';
import { createKubeApi } from '../../src/inference/kubernetes/api.js';
import { createKubernetesLauncher, type KubernetesLauncherOptions } from '../../src/inference/kubernetes/launcher.js';
import type { LaunchRequest } from '../../src/ports.js';
import type { FakeKubernetes } from '../fakes/kubernetes-api.js';
import { artifact, collectLog, profile } from './helpers.js';

export const EVALHOOK_IMAGE = 'ghcr.io/acme/evalhook:0.1.0';

export function kubeConfigFor(fake: FakeKubernetes): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: fake.url, skipTLSVerify: true }],
    users: [{ name: 'evalhook', token: fake.token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'evalhook' }],
    currentContext: 'fake',
  });
  return kc;
}

export function kubeLauncher(fake: FakeKubernetes, over: Partial<KubernetesLauncherOptions> = {}) {
  return createKubernetesLauncher({
    api: createKubeApi(kubeConfigFor(fake), 5_000),
    prefix: 'evalhook-test',
    defaultNamespace: 'evalhook',
    evalhookImage: EVALHOOK_IMAGE,
    wandbBaseURL: 'https://api.wandb.ai',
    fetch: globalThis.fetch,
    pollMs: 5,
    ...over,
  });
}

type K8sInput = Extract<ProfileInput['inference'], { kind: 'kubernetes' }>;

/** vLLM's OpenAI server with runtime LoRA, as an operator writes it in a kubernetes profile. */
export const VLLM_LORA_ARGS = [
  '--model',
  '{baseModel}',
  '--port',
  '{port}',
  '--enable-lora',
  '--max-lora-rank',
  '64',
  '--lora-modules',
  '{name}={adapterDir}',
];

export function kubeSettings(port: number, over: Partial<K8sInput> = {}) {
  const p = profile({
    kind: 'kubernetes',
    image: 'vllm/vllm-openai:v0.11.0',
    port,
    baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
    args: VLLM_LORA_ARGS,
    wandbApiKeySecret: { name: 'wandb', key: 'api-key' },
    ...over,
  });
  if (p.inference.kind !== 'kubernetes') throw new Error('unreachable');
  return { profile: p, settings: p.inference };
}

export function kubeRequest(evaluationId: string, prof: LaunchRequest['profile'], over: Partial<LaunchRequest> = {}) {
  const { lines, log } = collectLog();
  const controller = new AbortController();
  const req: LaunchRequest = {
    evaluationId,
    profile: prof,
    artifact: artifact(),
    download: async () => {
      throw new Error('the init-container mode never downloads on the worker');
    },
    signal: controller.signal,
    log,
    ...over,
  };
  return { req, lines, controller };
}
