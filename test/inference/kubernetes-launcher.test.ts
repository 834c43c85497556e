/**
 * kind=kubernetes against the fake API server (real HTTP, every Job schema-validated) and a fake
 * OpenAI-compatible server standing in for the pod at 127.0.0.1: each pod scenario, the failure each
 * one becomes, and that the Job is deleted (propagation Background) whatever happened.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InferenceError } from '../../src/inference/index.js';
import { jobNameFor } from '../../src/inference/kubernetes/names.js';
import { servedNameFor } from '../../src/inference/safe-values.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes-api.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { artifact, tempDir, writeLora } from './helpers.js';
import { EVALHOOK_IMAGE, kubeLauncher, kubeRequest, kubeSettings } from './kubernetes-helpers.js';

const ID = 'ev-0123456789abcdef01234567';
const NAME = servedNameFor(ID);
let k8s: FakeKubernetes;
let pod: FakeOpenAI;

beforeEach(async () => {
  k8s = await startFakeKubernetes({
    logs: () => ({
      server: ['INFO loading weights', 'torch.OutOfMemoryError: CUDA out of memory'],
      'fetch-artifact': ['evalhook fetch-artifact: the adapter is for another base model'],
    }),
  });
  pod = await startFakeOpenAI({ models: ['meta-llama/Llama-3.1-8B-Instruct', NAME] });
});
afterEach(async () => {
  await k8s.close();
  await pod.close();
});

const port = () => Number(new URL(pod.url).port);

async function failure(p: Promise<unknown>): Promise<InferenceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InferenceError);
  return err as InferenceError;
}

describe('kubernetes launcher', () => {
  it('creates one valid Job, waits for Ready, serves at the pod IP and deletes the Job on release', async () => {
    const launcher = kubeLauncher(k8s);
    const { profile } = kubeSettings(port(), {
      gpus: 2,
      tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
      nodeSelector: { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' },
      env: [{ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf', key: 'token' } } }],
    });
    const { req, lines } = kubeRequest(ID, profile);
    const served = await launcher.launch(req, profile.inference as never);

    expect(served.baseURL).toBe(`http://127.0.0.1:${port()}/v1`);
    expect(served.model).toBe(NAME);
    expect(served.describe).toMatchObject({
      kind: 'kubernetes',
      namespace: 'evalhook',
      job: NAME,
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
      checkpoint: 'init-container',
    });
    expect(k8s.rejected).toEqual([]);
    expect(k8s.created).toHaveLength(1);
    const job = k8s.created[0]!;
    expect(job.metadata).toMatchObject({
      name: NAME,
      namespace: 'evalhook',
      labels: { 'app.kubernetes.io/managed-by': 'evalhook', 'evalhook.io/evaluation': ID },
      annotations: { 'evalhook.io/evaluation-id': ID },
    });
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 21600, ttlSecondsAfterFinished: 600 });
    const spec = job.spec.template.spec;
    expect(spec.restartPolicy).toBe('Never');
    expect(spec.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(spec.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB' });
    const [server] = spec.containers;
    expect(server.resources.limits['nvidia.com/gpu']).toBe('2');
    expect(server.readinessProbe.httpGet).toEqual({ path: '/v1/models', port: port() });
    expect(server.args).toEqual([
      '--model',
      'meta-llama/Llama-3.1-8B-Instruct',
      '--port',
      String(port()),
      '--enable-lora',
      '--max-lora-rank',
      '64',
      '--lora-modules',
      `${NAME}=/models/artifact`,
    ]);
    expect(server.env).toEqual([{ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf', key: 'token' } } }]);
    const [init] = spec.initContainers;
    expect(init.image).toBe(EVALHOOK_IMAGE);
    expect(init.args).toEqual([
      'fetch-artifact',
      '--artifact',
      artifact().id,
      '--to',
      '/models',
      '--base-model',
      'meta-llama/Llama-3.1-8B-Instruct',
    ]);
    expect(init.env[0]).toEqual({
      name: 'WANDB_API_KEY',
      valueFrom: { secretKeyRef: { name: 'wandb', key: 'api-key' } },
    });
    expect(init.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
    expect(spec.volumes[0]).toEqual({ name: 'models', emptyDir: {} });
    // Pending -> Init -> Running -> Ready was walked, not skipped.
    expect(k8s.calls.filter((c) => c.path.endsWith('/pods')).length).toBeGreaterThanOrEqual(4);
    expect(lines.some((l) => l.includes('fetch-artifact: Running') || l.includes('Pending'))).toBe(true);

    await served.release();
    await served.release();
    expect(k8s.deletions).toEqual([{ namespace: 'evalhook', name: NAME, propagationPolicy: 'Background' }]);
    expect(k8s.jobs.size).toBe(0);
  });

  it('Unschedulable becomes a retryable failure after startupTimeoutSeconds, with the scheduler message', async () => {
    k8s.setScenario(() => ({ kind: 'unschedulable' }));
    const { profile } = kubeSettings(port(), { startupTimeoutSeconds: 1 });
    const { req } = kubeRequest(ID, profile);
    const err = await failure(kubeLauncher(k8s).launch(req, profile.inference as never));
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('could not be scheduled within 1 s (inference.startupTimeoutSeconds)');
    expect(err.message).toContain('0/3 nodes are available: 3 Insufficient nvidia.com/gpu');
    expect(k8s.jobs.size).toBe(0);
  });

  it('ImagePullBackOff / ErrImagePull is final with the reason, and the Job is deleted', async () => {
    k8s.setScenario(() => ({ kind: 'image-pull' }));
    const { profile } = kubeSettings(port());
    const { req } = kubeRequest(ID, profile);
    const err = await failure(kubeLauncher(k8s).launch(req, profile.inference as never));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /container server is in ErrImagePull: failed to pull and unpack image "vllm\/vllm-openai:v0.11.0"/,
    );
    expect(err.message).toContain('inference.image');
    expect(k8s.jobs.size).toBe(0);
    expect(k8s.deletions[0]?.propagationPolicy).toBe('Background');
  });

  it('a server that crashes before Ready fails the attempt (retryable) with its last log lines read through the API', async () => {
    k8s.setScenario(() => ({ kind: 'crash' }));
    const { profile } = kubeSettings(port());
    const { req } = kubeRequest(ID, profile);
    const err = await failure(kubeLauncher(k8s).launch(req, profile.inference as never));
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('container server exited with code 1 (Error) before it was ready');
    expect(err.message).toContain('torch.OutOfMemoryError: CUDA out of memory');
    const logCall = k8s.calls.find((c) => c.path.endsWith('/log'));
    expect(logCall?.query).toMatchObject({ container: 'server', tailLines: '50' });
    expect(k8s.jobs.size).toBe(0);
  });

  it('fetch-artifact exiting 78 (unservable checkpoint) is final, with its log', async () => {
    k8s.setScenario(() => ({ kind: 'init-fails' }));
    const { profile } = kubeSettings(port());
    const { req } = kubeRequest(ID, profile);
    const err = await failure(kubeLauncher(k8s).launch(req, profile.inference as never));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('container fetch-artifact exited with code 78');
    expect(err.message).toContain('the adapter is for another base model');
  });

  it('a pod that dies during the evaluation resolves `exited` with its last lines and the Job is deleted', async () => {
    k8s.setScenario(() => ({ kind: 'crash-later', readyFor: 2 }));
    const { profile } = kubeSettings(port());
    const { req } = kubeRequest(ID, profile);
    const served = await kubeLauncher(k8s).launch(req, profile.inference as never);
    const reason = await served.exited!;
    expect(reason).toContain('exited with code 137 (OOMKilled) during the evaluation');
    expect(reason).toContain('CUDA out of memory');
    expect(k8s.jobs.size).toBe(0);
    await served.release();
    expect(k8s.deletions).toHaveLength(1);
  });

  it('a spec the API server refuses (422) is final with its reason', async () => {
    const { profile } = kubeSettings(port(), { tolerations: [{ key: 'dedicated', operator: 'Exists', value: 'gpu' }] });
    const { req } = kubeRequest(ID, profile);
    const err = await failure(kubeLauncher(k8s).launch(req, profile.inference as never));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('refused the jobs spec as invalid (422)');
    expect(err.message).toContain("value must be empty when `operator` is 'Exists'");
    expect(k8s.jobs.size).toBe(0);
  });

  it('403 names the RBAC verb and resource the service account lacks', async () => {
    k8s.deny('create', 'jobs');
    const { profile } = kubeSettings(port());
    const { req } = kubeRequest(ID, profile);
    const err = await failure(kubeLauncher(k8s).launch(req, profile.inference as never));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('may not "create" jobs in namespace evalhook');
    expect(err.message).toContain('cannot create resource "jobs" in API group "batch"');

    k8s = await restart(k8s);
    k8s.deny('list', 'pods');
    const again = kubeRequest(ID, profile);
    const err2 = await failure(kubeLauncher(k8s).launch(again.req, profile.inference as never));
    expect(err2.message).toContain('may not "list" pods');
    expect(k8s.jobs.size).toBe(0);
  });

  it('cancelling while the pod is Pending deletes the Job and rethrows the cancel reason', async () => {
    k8s.setScenario(() => ({ kind: 'unschedulable' }));
    const { profile } = kubeSettings(port(), { startupTimeoutSeconds: 3600 });
    const { req, controller } = kubeRequest(ID, profile);
    const launching = kubeLauncher(k8s).launch(req, profile.inference as never);
    while (!k8s.calls.some((c) => c.path.endsWith('/pods'))) await new Promise((r) => setTimeout(r, 5));
    const cancel = new Error('cancelled by an operator');
    controller.abort(cancel);
    await expect(launching).rejects.toBe(cancel);
    expect(k8s.jobs.size).toBe(0);
    expect(k8s.deletions).toHaveLength(1);
  });

  it("a Job left by an earlier attempt's dead worker is replaced, not reused", async () => {
    const { profile } = kubeSettings(port());
    k8s.seedJob('evalhook', {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: NAME, labels: {} },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'server', image: 'old:1' }] } } },
    });
    const { req, lines } = kubeRequest(ID, profile);
    const served = await kubeLauncher(k8s).launch(req, profile.inference as never);
    expect(lines.some((l) => l.includes('left from an earlier attempt'))).toBe(true);
    expect(k8s.deletions).toHaveLength(1);
    expect([...k8s.jobs.values()][0]!.body.spec.template.spec.containers[0].image).toBe('vllm/vllm-openai:v0.11.0');
    await served.release();
  });

  it('shutdownAll deletes the Jobs of running evaluations', async () => {
    const launcher = kubeLauncher(k8s);
    const { profile } = kubeSettings(port());
    const served = await launcher.launch(kubeRequest(ID, profile).req, profile.inference as never);
    expect(k8s.jobs.size).toBe(1);
    await launcher.shutdownAll();
    expect(k8s.jobs.size).toBe(0);
    await served.release();
    expect(k8s.deletions).toHaveLength(1);
  });

  it('configuration mistakes fail before any Job is created', async () => {
    const launcher = kubeLauncher(k8s);
    const full = artifact({
      files: [
        { path: 'config.json', size: 1 },
        { path: 'model.safetensors', size: 1 },
      ],
    });
    const { profile } = kubeSettings(port());
    let err = await failure(
      launcher.launch(kubeRequest(ID, profile, { artifact: full }).req, profile.inference as never),
    );
    expect(err.message).toContain('inference.args never receives the model: use {modelDir}');
    const typo = kubeSettings(port(), { args: ['--model', '{modeldir}'] }).profile;
    err = await failure(launcher.launch(kubeRequest(ID, typo).req, typo.inference as never));
    expect(err.message).toContain('inference.args uses an unknown placeholder {modeldir}');
    const noBase = kubeSettings(port(), { baseModel: undefined }).profile;
    err = await failure(launcher.launch(kubeRequest(ID, noBase).req, noBase.inference as never));
    expect(err.message).toContain('does not say which base model');
    const pickles = artifact({ files: [{ path: 'adapter_checkpoint_0.pt', size: 1 }] });
    err = await failure(
      launcher.launch(kubeRequest(ID, profile, { artifact: pickles }).req, profile.inference as never),
    );
    expect(err.message).toContain('set inference.persistentVolumeClaim so the worker converts it');
    err = await failure(
      kubeLauncher(k8s, { evalhookImage: undefined }).launch(kubeRequest(ID, profile).req, profile.inference as never),
    );
    expect(err.message).toContain('EVALHOOK_IMAGE is not set');
    expect(err.retryable).toBe(false);
    expect(k8s.calls).toEqual([]);
  });

  it('a full model in a torchtune epoch directory is served from that directory', async () => {
    const full = artifact({
      files: [
        { path: 'epoch_2/config.json', size: 1 },
        { path: 'epoch_2/model.safetensors', size: 1 },
      ],
    });
    const { profile } = kubeSettings(port(), {
      args: ['--model', '{modelDir}', '--served-model-name', '{name}', '--port', '{port}'],
    });
    const served = await kubeLauncher(k8s).launch(
      kubeRequest(ID, profile, { artifact: full }).req,
      profile.inference as never,
    );
    expect(k8s.created[0]!.spec.template.spec.containers[0].args).toEqual([
      '--model',
      '/models/artifact/epoch_2',
      '--served-model-name',
      NAME,
      '--port',
      String(port()),
    ]);
    expect(k8s.created[0]!.spec.template.spec.initContainers[0].args).not.toContain('--base-model');
    await served.release();
  });

  it('with a persistentVolumeClaim the worker copies the checkpoint into the claim and removes it after', async () => {
    const cache = await tempDir('k8s-cache');
    const claim = await tempDir('k8s-claim');
    const lora = await writeLora(join(cache, 'digest'), 'meta-llama/Llama-3.1-8B-Instruct');
    const { profile } = kubeSettings(port(), {
      wandbApiKeySecret: undefined,
      persistentVolumeClaim: { claimName: 'models', workerPath: claim },
    });
    const served = await kubeLauncher(k8s, { evalhookImage: undefined }).launch(
      kubeRequest(ID, profile, { download: async () => lora }).req,
      profile.inference as never,
    );
    const spec = k8s.created[0]!.spec.template.spec;
    expect(spec.initContainers).toBeUndefined();
    expect(spec.volumes[0]).toEqual({ name: 'models', persistentVolumeClaim: { claimName: 'models', readOnly: true } });
    expect(spec.containers[0].args).toContain(`${NAME}=/models/${NAME}`);
    expect(readdirSync(join(claim, NAME)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(served.describe).toMatchObject({
      checkpoint: 'persistentVolumeClaim',
      baseModelSource: 'profile inference.baseModel',
    });
    await served.release();
    expect(existsSync(join(claim, NAME))).toBe(false);
  });

  it('the job name is the served name: a DNS-1123 label of at most 63 characters', () => {
    expect(jobNameFor(ID)).toBe(NAME);
    expect(NAME).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  });
});

async function restart(old: FakeKubernetes): Promise<FakeKubernetes> {
  await old.close();
  return startFakeKubernetes();
}

describe('kubernetes launcher, init container run by the fake kubelet', () => {
  it('a missing wandbApiKeySecret Secret is CreateContainerConfigError: final, naming the Secret', async () => {
    const kube = await startFakeKubernetes({ secrets: {}, runInit: async () => ({ exitCode: 0, logs: [] }) });
    const fakePod = await startFakeOpenAI({ models: [NAME] });
    try {
      const { profile } = kubeSettings(Number(new URL(fakePod.url).port));
      const err = await failure(kubeLauncher(kube).launch(kubeRequest(ID, profile).req, profile.inference as never));
      expect(err.retryable).toBe(false);
      expect(err.message).toContain(
        'container fetch-artifact is in CreateContainerConfigError: secret "wandb" not found',
      );
      expect(err.message).toContain('inference.wandbApiKeySecret');
      expect(kube.jobs.size).toBe(0);
    } finally {
      await kube.close();
      await fakePod.close();
    }
  });
});
