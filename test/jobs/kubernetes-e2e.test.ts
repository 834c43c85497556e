/**
 * A whole evaluation through the real worker with kind=kubernetes: the worker reads KUBECONFIG (the
 * fake API server), creates the Job, the fake kubelet really runs the init container
 * (`evalhook fetch-artifact` against the fake W&B, its API key from the Secret the profile names),
 * the pod turns Ready, MT-Bench runs against the "pod" (a fake OpenAI-compatible server at 127.0.0.1
 * and the profile's port), results land in W&B, and the Job is deleted.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fetchArtifactCommand } from '../../src/cli/fetch-artifact.js';
import { servedNameFor } from '../../src/inference/safe-values.js';
import { evaluationIdFor } from '../../src/jobs/job-data.js';
import { startFakeKubernetes, type FakeKubernetes, type PodScenario } from '../fakes/kubernetes-api.js';
import { startFakeWandb, type FakeWandb } from '../fakes/wandb-server.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';
import { schemaMissing } from '../wandb/helpers.js';
import { waitFor } from '../inference/helpers.js';
import { VLLM_LORA_ARGS } from '../inference/kubernetes-helpers.js';

const BASE = 'meta-llama/Llama-3.1-8B-Instruct';

describe.skipIf(schemaMissing)('kind=kubernetes end to end (fake API server, fake W&B, real Redis and worker)', () => {
  let stack: Stack | undefined;
  let wb: FakeWandb | undefined;
  let k8s: FakeKubernetes | undefined;
  const savedKubeconfig = process.env.KUBECONFIG;
  afterEach(async () => {
    await stack?.close();
    await wb?.close();
    await k8s?.close();
    stack = wb = k8s = undefined;
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = savedKubeconfig;
  });

  async function setup(scenario?: (n: number) => PodScenario) {
    const w = (wb = await startFakeWandb());
    const src = w.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'llama-lora',
      files: {
        'adapter_config.json': JSON.stringify({ peft_type: 'LORA', r: 16, base_model_name_or_path: BASE }),
        'adapter_model.safetensors': Buffer.alloc(64, 3),
      },
      sourceRun: { name: 'train-1' },
    });
    const linked = w.linkToRegistry(src, { collection: 'llama-lora' });
    const evaluationId = evaluationIdFor({ name: linked.fullName }, 'k8s');
    const served = servedNameFor(evaluationId);

    // What the init container wrote, standing in for the pod's emptyDir at /models.
    const podModels = tempDir('pod-models');
    let jobs = 0;
    const k = (k8s = await startFakeKubernetes({
      ...(scenario ? { scenario: () => scenario(jobs++) } : {}),
      secrets: { wandb: { 'api-key': w.apiKey } },
      runInit: async (container, env) => {
        const args = (container.args as string[]).map((a) => (a === '/models' ? podModels : a));
        const lines: string[] = [];
        const io = {
          stdout: { write: (s: string) => lines.push(s) },
          stderr: { write: (s: string) => lines.push(s) },
          env: { ...env, LOG_LEVEL: 'silent' },
        };
        const exitCode = await fetchArtifactCommand(args.slice(1), io);
        return { exitCode, logs: lines };
      },
    }));
    process.env.KUBECONFIG = k.writeKubeconfig(tempDir('kubeconfig'));

    const dir = tempDir('k8s-config');
    const configFile = join(dir, 'evalhook.yaml');
    // The profile needs the candidate's port, known once the stack runs: the file is filled in after.
    writeFileSync(configFile, 'profiles: []\n');
    const st = (stack = await startStack({
      redisUrl: redisUrl(),
      candidate: { models: [BASE, served] },
      env: {
        WANDB_API_KEY: w.apiKey,
        WANDB_BASE_URL: w.url,
        WANDB_PROJECT: 'evals',
        EVALHOOK_CONFIG: configFile,
        EVALHOOK_IMAGE: 'ghcr.io/acme/evalhook:0.1.0',
      },
    }));
    const port = Number(new URL(st.candidate.url).port);
    writeFileSync(
      configFile,
      stringify({
        profiles: [
          {
            name: 'k8s',
            inference: {
              kind: 'kubernetes',
              namespace: 'gpu-jobs',
              image: 'vllm/vllm-openai:v0.11.0',
              gpus: 1,
              port,
              args: VLLM_LORA_ARGS,
              env: [{ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf', key: 'token' } } }],
              wandbApiKeySecret: { name: 'wandb', key: 'api-key' },
              baseModel: BASE,
            },
          },
        ],
      }),
    );
    return { linked, evaluationId, served, podModels, stack: st, wb: w, k8s: k };
  }

  it('a registry LoRA version is evaluated on a pod the cluster runs, and its Job is gone afterwards', async () => {
    const { linked, evaluationId, served, podModels, stack, wb, k8s } = await setup();
    await stack.startWorker();
    const id = await stack.enqueue(linked.fullName, 'k8s');
    expect(id).toBe(evaluationId);
    expect(await stack.finished(id)).toBe('completed');

    // The candidate was the "pod": every answer asked for the adapter's served name.
    const asked = new Set(stack.candidate.requests.map((r) => r.body.model));
    expect([...asked]).toEqual([served]);
    expect(readdirSync(join(podModels, 'artifact')).sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
    ]);
    expect(k8s.rejected).toEqual([]);
    expect(k8s.created).toHaveLength(1);
    expect(k8s.created[0]!.metadata).toMatchObject({
      name: served,
      namespace: 'gpu-jobs',
      labels: { 'evalhook.io/evaluation': evaluationId },
    });
    expect(k8s.jobs.size).toBe(0);
    expect(k8s.deletions).toEqual([{ namespace: 'gpu-jobs', name: served, propagationPolicy: 'Background' }]);

    const runs = wb.evalRuns();
    expect(runs).toHaveLength(1);
    expect(runs[0]!.state).toBe('finished');
    expect(runs[0]!.summary['mtbench/score']).toBe(7);
    expect(runs[0]!.config.inference).toMatchObject({
      kind: 'kubernetes',
      namespace: 'gpu-jobs',
      job: served,
      model: served,
      baseModel: BASE,
      checkpoint: 'init-container',
    });
  });

  it('a SIGKILLed worker leaks no Job: the evaluation resumes on another worker, which replaces its Job and deletes it at the end', async () => {
    // The first pod never schedules (the worker holding it dies while it waits); the next one runs.
    const { linked, stack, k8s } = await setup((n) => (n === 0 ? { kind: 'unschedulable' } : { kind: 'ready' }));
    const child = await stack.spawnWorker({ KUBECONFIG: process.env.KUBECONFIG! });
    const id = await stack.enqueue(linked.fullName, 'k8s');
    const done = stack.finished(id);
    await waitFor(() => k8s.created.length === 1, 'the first Job');
    await child.kill('SIGKILL');
    expect(k8s.jobs.size).toBe(1); // left behind

    await stack.startWorker();
    expect(await done).toBe('completed');
    expect(k8s.created).toHaveLength(2);
    expect(k8s.jobs.size).toBe(0);
    expect(k8s.deletions.map((d) => d.propagationPolicy)).toEqual(['Background', 'Background']);
  });
});
