/**
 * Jobs whose worker died (SIGKILL, node loss) are never deleted by that worker. Every worker sweeps on
 * start and every few minutes: a managed Job of this installation whose evaluation is no longer
 * active in Redis (finished, failed, cancelled, or gone) is deleted. A still-active evaluation keeps
 * its Job; its retry replaces it under the same name.
 */
import type { Logger } from 'pino';
import { errorText } from '../errors.js';
import type { KubeApi } from './api.js';
import { EVALUATION_ANNOTATION, managedSelector } from './names.js';

export interface SweeperOptions {
  api: KubeApi;
  prefix: string;
  namespaces: readonly string[];
  /** Whether the evaluation is waiting, running or about to be retried. */
  isActive(evaluationId: string): Promise<boolean>;
  intervalMs?: number;
  logger?: Logger;
}

export function createKubernetesSweeper(opts: SweeperOptions) {
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<string[]> | undefined;

  async function sweepOnce(): Promise<string[]> {
    const deleted: string[] = [];
    for (const namespace of new Set(opts.namespaces)) {
      for (const job of await opts.api.listJobs(namespace, managedSelector(opts.prefix))) {
        const name = job.metadata?.name;
        const id = job.metadata?.annotations?.[EVALUATION_ANNOTATION];
        if (!name || !id || (await opts.isActive(id))) continue;
        await opts.api.deleteJob(namespace, name);
        deleted.push(`${namespace}/${name}`);
        opts.logger?.info(
          { job: name, namespace, evaluationId: id },
          'deleted the inference Job of an evaluation that is no longer active',
        );
      }
    }
    return deleted;
  }

  /** One sweep at a time; a caller arriving mid-sweep shares it. */
  function sweep(): Promise<string[]> {
    current ??= sweepOnce().finally(() => (current = undefined));
    return current;
  }

  return {
    sweep,
    start() {
      const run = () =>
        void sweep().catch((err: unknown) =>
          opts.logger?.warn({ err: errorText(err) }, 'sweeping inference Jobs failed; retrying at the next interval'),
        );
      run();
      timer = setInterval(run, opts.intervalMs ?? 300_000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await current?.catch(() => undefined);
    },
  };
}
