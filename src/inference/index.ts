/**
 * The inference launcher the worker uses: one entry point dispatching on the profile's
 * `inference.kind` (endpoint | wandb-inference | process | kubernetes). See each launcher for what it does.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { InferenceLauncher, LaunchRequest, ServedModel } from '../ports.js';
import { createEndpointLauncher } from './endpoint-launcher.js';
import { abortReason, finalError } from './errors.js';
import { createGpuPool } from './gpu-pool.js';
import { createServerRegistry } from './orphans.js';
import type { FetchFn } from './http.js';
import { createProcessLauncher } from './process-launcher.js';
import { launchWandbInference } from './wandb-inference.js';
import { createKubeApi, loadKubeConfig, ownNamespace, type KubeApi } from './kubernetes/api.js';
import { createKubernetesLauncher } from './kubernetes/launcher.js';
import { createKubernetesSweeper } from './kubernetes/sweep.js';

export { InferenceError } from './errors.js';

export interface InferenceLauncherOptions {
  redis: Redis;
  /** Redis key prefix (GPU leases live under `<prefix>:gpu:<pool>:<id>`). */
  prefix: string;
  /** Secret values by env name; profiles name the variable (inference.apiKeyEnv). */
  secrets: Readonly<Record<string, string | undefined>>;
  wandbApiKey?: string;
  /** This host's GPUs (GPU_IDS); every worker on the host must list the same ids. */
  gpuIds: string[];
  /** Scratch space (default LoRA copy directory). */
  workDir: string;
  logger?: Logger;
  fetch?: FetchFn;
  /** When set, downloaded directories handed to a launched server must lie inside it. */
  cacheRoot?: string;
  /**
   * Name of the GPU pool in Redis (default "default"). Workers sharing GPUs must share it; hosts with
   * their own GPUs need their own name (or list GPU UUIDs, which CUDA_VISIBLE_DEVICES accepts too).
   */
  gpuPool?: string;
  /** GPU lease TTL (default 30 s, renewed every third). */
  gpuLeaseMs?: number;
  /** SIGTERM -> SIGKILL grace for launched servers (default 15 s). */
  killGraceMs?: number;
  /** Poll interval for readiness and free GPUs (default 1 s). */
  pollMs?: number;
  /** Timeout for one HTTP call to an endpoint (default 60 s). */
  callTimeoutMs?: number;
  /** The worker environment launched servers pick their allow-listed variables from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Set when a profile uses kind=kubernetes: cluster access, and the sweep of leftover Jobs. */
  kubernetes?: KubernetesOptions;
}

export interface KubernetesOptions {
  /** Default: in-cluster credentials, else KUBECONFIG. */
  api?: KubeApi;
  /** The profiles' namespaces (undefined: the default namespace), swept for leftover Jobs. */
  namespaces: ReadonlyArray<string | undefined>;
  /** Whether an evaluation is still waiting/running/retrying (the sweep keeps its Job). */
  isActive(evaluationId: string): Promise<boolean>;
  /** evalhook's own image for the fetch-artifact init container (EVALHOOK_IMAGE). */
  evalhookImage?: string;
  wandbBaseURL: string;
  /** Default: the worker's own namespace in a pod, else "default". */
  defaultNamespace?: string;
  sweepIntervalMs?: number;
  pollMs?: number;
}

export function createInferenceLauncher(
  opts: InferenceLauncherOptions,
): InferenceLauncher & { shutdownAll(): Promise<void>; sweep(): Promise<string[]> } {
  const fetchFn = opts.fetch ?? globalThis.fetch;
  const pollMs = opts.pollMs ?? 1_000;
  const pool = opts.gpuIds.length
    ? createGpuPool({
        redis: opts.redis,
        prefix: opts.prefix,
        pool: opts.gpuPool,
        ids: opts.gpuIds,
        leaseMs: opts.gpuLeaseMs,
        pollMs,
      })
    : undefined;
  const processes = createProcessLauncher({
    pool,
    cacheRoot: opts.cacheRoot,
    workDir: opts.workDir,
    env: opts.env ?? process.env,
    fetch: fetchFn,
    killGraceMs: opts.killGraceMs ?? 15_000,
    readyPollMs: pollMs,
    registry: createServerRegistry(join(opts.workDir, 'servers')),
    logger: opts.logger,
  });
  const k8s = opts.kubernetes;
  const kubeApi = k8s ? (k8s.api ?? createKubeApi(loadKubeConfig())) : undefined;
  const defaultNamespace = k8s?.defaultNamespace ?? ownNamespace() ?? 'default';
  const kubernetes =
    k8s && kubeApi
      ? createKubernetesLauncher({
          api: kubeApi,
          prefix: opts.prefix,
          defaultNamespace,
          evalhookImage: k8s.evalhookImage,
          wandbBaseURL: k8s.wandbBaseURL,
          fetch: fetchFn,
          pollMs: k8s.pollMs,
          callTimeoutMs: opts.callTimeoutMs,
          logger: opts.logger,
        })
      : undefined;
  const sweeper =
    k8s && kubeApi
      ? createKubernetesSweeper({
          api: kubeApi,
          prefix: opts.prefix,
          namespaces: k8s.namespaces.map((n) => n ?? defaultNamespace),
          isActive: k8s.isActive,
          intervalMs: k8s.sweepIntervalMs,
          logger: opts.logger,
        })
      : undefined;
  sweeper?.start();
  const endpoints = createEndpointLauncher({
    secrets: opts.secrets,
    fetch: fetchFn,
    workDir: opts.workDir,
    callTimeoutMs: opts.callTimeoutMs ?? 60_000,
    logger: opts.logger,
  });

  return {
    async launch(req: LaunchRequest): Promise<ServedModel> {
      if (req.signal.aborted) throw abortReason(req.signal);
      const settings = req.profile.inference;
      switch (settings.kind) {
        case 'endpoint':
          return endpoints.launch(req, settings);
        case 'wandb-inference':
          return launchWandbInference(req, settings, opts.wandbApiKey);
        case 'process':
          return processes.launch(req, settings);
        case 'kubernetes':
          if (!kubernetes)
            throw finalError(
              'this worker has no Kubernetes access configured (a kubernetes profile added after it started?)',
            );
          return kubernetes.launch(req, settings);
      }
    },
    sweep: () => sweeper?.sweep() ?? Promise.resolve([]),
    async shutdownAll() {
      await sweeper?.stop();
      await Promise.all([processes.shutdownAll(), kubernetes?.shutdownAll()]);
    },
  };
}
