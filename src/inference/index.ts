/**
 * The inference launcher the worker uses: one entry point dispatching on the profile's
 * `inference.kind` (endpoint | wandb-inference | process). See each launcher for what it does.
 */
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { InferenceLauncher, LaunchRequest, ServedModel } from '../ports.js';
import { createEndpointLauncher } from './endpoint-launcher.js';
import { abortReason } from './errors.js';
import { createGpuPool } from './gpu-pool.js';
import { createServerRegistry } from './orphans.js';
import type { FetchFn } from './http.js';
import { createProcessLauncher } from './process-launcher.js';
import { launchWandbInference } from './wandb-inference.js';

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
}

export function createInferenceLauncher(opts: InferenceLauncherOptions): InferenceLauncher & { shutdownAll(): Promise<void> } {
  const fetchFn = opts.fetch ?? globalThis.fetch;
  const pollMs = opts.pollMs ?? 1_000;
  const pool = opts.gpuIds.length ? createGpuPool({ redis: opts.redis, prefix: opts.prefix, pool: opts.gpuPool, ids: opts.gpuIds, leaseMs: opts.gpuLeaseMs, pollMs }) : undefined;
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
  const endpoints = createEndpointLauncher({ secrets: opts.secrets, fetch: fetchFn, workDir: opts.workDir, callTimeoutMs: opts.callTimeoutMs ?? 60_000, logger: opts.logger });

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
      }
    },
    shutdownAll: () => processes.shutdownAll(),
  };
}
