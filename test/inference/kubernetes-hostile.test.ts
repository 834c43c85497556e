/**
 * Hostile names never reach a Job unvalidated: names and labels come from the evaluation id (and
 * pass the fake API server's DNS-1123 and label checks whatever the id), the artifact's own name and
 * metadata never appear in names, labels or args, and ids or paths that cannot be made safe fail
 * before anything is created.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InferenceError } from '../../src/inference/index.js';
import { jobNameFor } from '../../src/inference/kubernetes/names.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes-api.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai-server.js';
import { artifact } from './helpers.js';
import { kubeLauncher, kubeRequest, kubeSettings } from './kubernetes-helpers.js';

let k8s: FakeKubernetes;
let pod: FakeOpenAI;
beforeEach(async () => {
  k8s = await startFakeKubernetes();
  pod = await startFakeOpenAI({ models: ['base'] });
});
afterEach(async () => {
  await k8s.close();
  await pod.close();
});

const HOSTILE_IDS = [
  'ev-"; rm -rf / #',
  'EV_Upper..Dots--',
  'x'.repeat(300),
  '../../etc/passwd',
  '評価-1',
  '-',
  'ev-a b\nc',
];
const evil = artifact({
  collection: '--model=evil;$(curl attacker)',
  entity: 'a`id`',
  metadata: { base_model: '--trust-remote-code' },
});

describe('kubernetes launcher with hostile names', () => {
  it.each(HOSTILE_IDS)(
    'evaluation id %j gives a valid Job whose names, labels and args hold nothing of the artifact',
    async (id) => {
      const { profile } = kubeSettings(Number(new URL(pod.url).port), {
        args: ['--model', '{baseModel}', '--lora-modules', '{name}={adapterDir}'],
      });
      const { req, lines } = kubeRequest(id, profile, { artifact: evil });
      const served = await kubeLauncher(k8s)
        .launch(req, profile.inference as never)
        .catch((e: unknown) => e);
      // The fake pod serves only "base", not the derived name: the launch fails after the Job was accepted.
      expect(served).toBeInstanceOf(InferenceError);
      expect(k8s.rejected).toEqual([]);
      expect(k8s.created).toHaveLength(1);
      const job = k8s.created[0]!;
      expect(job.metadata.name).toBe(jobNameFor(id));
      expect(job.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
      expect(job.metadata.annotations['evalhook.io/evaluation-id']).toBe(id);
      const text = JSON.stringify(job);
      for (const bad of ['evil', 'curl', '`id`', 'trust-remote-code']) expect(text).not.toContain(bad);
      expect(job.spec.template.spec.containers[0].args).toEqual([
        '--model',
        'meta-llama/Llama-3.1-8B-Instruct',
        '--lora-modules',
        `${jobNameFor(id)}=/models/artifact`,
      ]);
      expect(lines.some((l) => l.includes('not a Hugging Face model id'))).toBe(true);
      expect(k8s.jobs.size).toBe(0);
    },
  );

  it('ids that sanitise alike still get different Jobs', () => {
    expect(jobNameFor('ev a')).not.toBe(jobNameFor('ev-a'));
    expect(jobNameFor('EV-A')).not.toBe(jobNameFor('ev-a'));
  });

  it('an artifact id or manifest directory that cannot be made safe fails before any API call', async () => {
    const { profile } = kubeSettings(8000);
    const launcher = kubeLauncher(k8s);
    const badId = artifact({ id: 'QQ==; rm -rf /' });
    await expect(
      launcher.launch(kubeRequest('ev-1', profile, { artifact: badId }).req, profile.inference as never),
    ).rejects.toThrow(/is not a W&B node id/);
    const badDir = artifact({
      files: [
        { path: 'epoch 0;$(x)/adapter_config.json', size: 1 },
        { path: 'epoch 0;$(x)/adapter_model.safetensors', size: 1 },
      ],
    });
    await expect(
      launcher.launch(kubeRequest('ev-1', profile, { artifact: badDir }).req, profile.inference as never),
    ).rejects.toThrow(/cannot go on a command line/);
    expect(k8s.calls).toEqual([]);
  });
});
