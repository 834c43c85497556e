/**
 * The sweep that keeps a SIGKILLed worker from leaking GPUs: managed Jobs of this installation whose
 * evaluation is no longer active in Redis are deleted; active evaluations, other installations'
 * Jobs and Jobs evalhook did not make are left alone. Activity is read from a real BullMQ queue.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createInferenceLauncher } from '../../src/inference/index.js';
import { createKubeApi } from '../../src/inference/kubernetes/api.js';
import { buildJob } from '../../src/inference/kubernetes/manifest.js';
import { jobNameFor } from '../../src/inference/kubernetes/names.js';
import { createKubernetesSweeper } from '../../src/inference/kubernetes/sweep.js';
import { createActivityCheck } from '../../src/jobs/active.js';
import { QUEUE_NAME } from '../../src/jobs/keys.js';
import { redisOptions } from '../../src/runtime.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { startFakeKubernetes, type FakeKubernetes } from '../fakes/kubernetes-api.js';
import { tempDir, waitFor } from './helpers.js';
import { kubeConfigFor, kubeSettings } from './kubernetes-helpers.js';

let redis: Redis;
let k8s: FakeKubernetes;
beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(async () => {
  k8s = await startFakeKubernetes();
});
afterEach(async () => {
  await k8s.close();
});

function seed(evaluationId: string, prefix: string, namespace = 'evalhook') {
  const { settings } = kubeSettings(8000);
  const job = buildJob({
    settings,
    name: jobNameFor(evaluationId),
    namespace,
    evaluationId,
    prefix,
    args: ['--model', 'x'],
    source: {
      kind: 'init',
      evalhookImage: 'ghcr.io/acme/evalhook:0.1.0',
      artifactId: 'QXJ0aWZhY3Q6MQ==',
      wandbBaseURL: 'https://api.wandb.ai',
      secret: { name: 'wandb', key: 'api-key' },
    },
  });
  k8s.seedJob(namespace, job as Record<string, unknown>);
  return jobNameFor(evaluationId);
}

describe('kubernetes sweep', () => {
  it('deletes only managed Jobs of this installation whose evaluation is no longer active', async () => {
    const done = seed('ev-finished', 'mine');
    seed('ev-running', 'mine');
    seed('ev-elsewhere-finished', 'theirs');
    seed('ev-other-namespace', 'mine', 'team-b');
    k8s.seedJob('evalhook', {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'someone-elses', labels: { app: 'x' } },
      spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'b:1' }] } } },
    });
    const asked: string[] = [];
    const sweeper = createKubernetesSweeper({
      api: createKubeApi(kubeConfigFor(k8s)),
      prefix: 'mine',
      namespaces: ['evalhook', 'evalhook'],
      isActive: async (id) => {
        asked.push(id);
        return id === 'ev-running';
      },
    });
    expect(await sweeper.sweep()).toEqual([`evalhook/${done}`]);
    expect(asked.sort()).toEqual(['ev-finished', 'ev-running']);
    expect(k8s.deletions).toEqual([{ namespace: 'evalhook', name: done, propagationPolicy: 'Background' }]);
    expect([...k8s.jobs.keys()].sort()).toEqual(
      [
        `evalhook/${jobNameFor('ev-elsewhere-finished')}`,
        `evalhook/${jobNameFor('ev-running')}`,
        'evalhook/someone-elses',
        `team-b/${jobNameFor('ev-other-namespace')}`,
      ].sort(),
    );
  });

  it('an evaluation is active while waiting, delayed or running, and not once it is gone', async () => {
    const prefix = uniquePrefix('sweep');
    const queue = new Queue(QUEUE_NAME, { connection: redisOptions(redisUrl()), prefix });
    const activity = createActivityCheck(redis, prefix);
    try {
      await queue.add('eval.run', {}, { jobId: 'ev-waiting' });
      await queue.add('eval.run', {}, { jobId: 'ev-delayed', delay: 3_600_000 });
      const gone = await queue.add('eval.run', {}, { jobId: 'ev-gone' });
      await gone.remove();
      expect(await activity.isActive('ev-waiting')).toBe(true);
      expect(await activity.isActive('ev-delayed')).toBe(true);
      expect(await activity.isActive('ev-gone')).toBe(false);
      expect(await activity.isActive('ev-never-seen')).toBe(false);
    } finally {
      await activity.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
    expect(await redis.ping()).toBe('PONG'); // the shared connection survives the check's close
  });

  it('a worker sweeps when its launcher starts (the Jobs of a SIGKILLed worker do not leak)', async () => {
    const leaked = seed('ev-of-a-dead-worker', 'mine');
    const launcher = createInferenceLauncher({
      redis,
      prefix: 'mine',
      secrets: {},
      gpuIds: [],
      workDir: await tempDir('k8s-work'),
      kubernetes: {
        api: createKubeApi(kubeConfigFor(k8s)),
        namespaces: [undefined],
        defaultNamespace: 'evalhook',
        isActive: async () => false,
        wandbBaseURL: 'https://api.wandb.ai',
      },
    });
    try {
      // No sweep() call: the start-up sweep alone must find it (the next one is minutes away).
      await waitFor(() => k8s.deletions.length > 0, 'the start-up sweep');
      expect(k8s.deletions.map((d) => d.name)).toEqual([leaked]);
    } finally {
      await launcher.shutdownAll();
    }
  });
});
