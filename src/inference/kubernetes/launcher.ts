/**
 * kind=kubernetes: one batch/v1 Job per evaluation running the inference server; the worker waits
 * until the pod is Ready, evaluates at http://<podIP>:<port>/v1 and deletes the Job (propagation
 * Background) when the evaluation ends, fails, is cancelled, or the worker shuts down. The cluster
 * scheduler places the pod (GPUs, taints, quotas); evalhook only reads what it reports.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { LaunchRequest, ServedModel } from '../../ports.js';
import { fillCommand, placeholdersIn, type PlaceholderValues } from '../command.js';
import { abortReason, errorText, finalError, InferenceError, transientError } from '../errors.js';
import { listModels, type FetchFn } from '../http.js';
import type { KubeApi } from './api.js';
import { KubeApiError } from './api.js';
import { prepareCheckpoint } from './checkpoint.js';
import { buildJob, type KubernetesSettings } from './manifest.js';
import { EXIT_UNSERVABLE, INIT_CONTAINER, jobNameFor, SERVER_CONTAINER } from './names.js';
import { podState, type PodState } from './pod-status.js';
import { wait } from '../../retry.js';

export interface KubernetesLauncherOptions {
  api: KubeApi;
  /** QUEUE_PREFIX, recorded on each Job so the sweep only touches this installation's Jobs. */
  prefix: string;
  /** Namespace when the profile names none: the worker's own, else "default". */
  defaultNamespace: string;
  /** evalhook's own image (EVALHOOK_IMAGE) for the fetch-artifact init container. */
  evalhookImage?: string;
  wandbBaseURL: string;
  fetch: FetchFn;
  /** Pod status poll interval while the pod starts (default 2 s); during the run, five times that. */
  pollMs?: number;
  callTimeoutMs?: number;
  logger?: Logger;
}

const LOG_LINES = 50;

/** The process launcher's placeholder messages say inference.command; here the field is inference.args. */
function asArgsError(err: unknown): unknown {
  return err instanceof InferenceError
    ? new InferenceError(err.message.replaceAll('inference.command', 'inference.args'), {
        retryable: err.retryable,
        cause: err,
      })
    : err;
}

export function createKubernetesLauncher(opts: KubernetesLauncherOptions) {
  const { api } = opts;
  const pollMs = opts.pollMs ?? 2_000;
  const running = new Set<(reason: string) => Promise<void>>();

  async function lastLines(namespace: string, pod: V1Pod, container: string): Promise<string> {
    const name = pod.metadata?.name;
    if (!name) return '';
    const text = await api
      .podLog(namespace, name, container, LOG_LINES)
      .catch((err: unknown) => `(its log could not be read: ${errorText(err)})`);
    const lines = text
      .split('\n')
      .filter((l) => l.length)
      .slice(-LOG_LINES);
    return lines.length
      ? `. Last output of container ${container}:\n${lines.join('\n')}`
      : ` (container ${container} printed nothing)`;
  }

  /** The failure a crashed pod means, with the container's last log lines read through the API. */
  async function crashError(
    namespace: string,
    pod: V1Pod,
    state: Extract<PodState, { kind: 'crashed' }>,
    when: string,
  ): Promise<InferenceError> {
    const container = state.container ?? SERVER_CONTAINER;
    const how =
      state.exitCode !== undefined
        ? `exited with code ${state.exitCode} (${state.reason})`
        : `failed (${state.reason}${state.message ? `: ${state.message}` : ''})`;
    const text = `the inference pod's container ${container} ${how} ${when}${await lastLines(namespace, pod, container)}`;
    return container === INIT_CONTAINER && state.exitCode === EXIT_UNSERVABLE ? finalError(text) : transientError(text);
  }

  async function createReplacing(
    namespace: string,
    name: string,
    job: ReturnType<typeof buildJob>,
    req: LaunchRequest,
  ) {
    try {
      return await api.createJob(namespace, job);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    }
    // Same evaluation, earlier attempt (its worker died): its pod is not ours to trust; start afresh.
    req.log(`[evalhook] Job ${namespace}/${name} is left from an earlier attempt; deleting it first`);
    await api.deleteJob(namespace, name);
    const deadline = Date.now() + 120_000;
    while (await api.readJob(namespace, name)) {
      if (req.signal.aborted) throw abortReason(req.signal);
      if (Date.now() > deadline)
        throw transientError(`the earlier Job ${namespace}/${name} was not deleted within 120 s`);
      await wait(pollMs, req.signal);
    }
    return api.createJob(namespace, job);
  }

  async function currentPod(namespace: string, selector: string): Promise<V1Pod | undefined> {
    const pods = await api.listPods(namespace, selector);
    return pods.sort((a, b) =>
      String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')),
    )[0];
  }

  /** Polls the pod until Ready; every failure the kubelet or scheduler reports becomes an InferenceError. */
  async function waitReady(
    namespace: string,
    name: string,
    selector: string,
    settings: KubernetesSettings,
    req: LaunchRequest,
  ): Promise<string> {
    const timeoutMs = settings.startupTimeoutSeconds * 1000;
    const deadline = Date.now() + timeoutMs;
    let last: PodState = { kind: 'starting', detail: 'no pod yet' };
    let reported = '';
    for (;;) {
      if (req.signal.aborted) throw abortReason(req.signal);
      let pod: V1Pod | undefined;
      try {
        pod = await currentPod(namespace, selector);
        if (!pod && !(await api.readJob(namespace, name)))
          throw transientError(`the Job ${namespace}/${name} was deleted while its pod was starting`);
      } catch (err) {
        // An API blip while waiting is not the server's fault; keep waiting until the deadline.
        if (!(err instanceof InferenceError) || !err.retryable || err.message.includes('was deleted')) throw err;
        req.log(`[evalhook] ${err.message}`);
      }
      if (pod) {
        last = podState(pod);
        const seen =
          last.kind === 'unschedulable'
            ? `unschedulable: ${last.message}`
            : last.kind === 'starting'
              ? last.detail
              : '';
        if (seen && seen !== reported) req.log(`[evalhook] pod ${pod.metadata?.name ?? '?'}: ${(reported = seen)}`);
        if (last.kind === 'ready') return last.podIP;
        if (last.kind === 'crashed') throw await crashError(namespace, pod, last, 'before it was ready');
        if (last.kind === 'broken') {
          const hint =
            last.container === INIT_CONTAINER
              ? ' (check EVALHOOK_IMAGE and inference.wandbApiKeySecret)'
              : ' (check inference.image, inference.env and the Secrets it names)';
          throw finalError(
            `the inference pod cannot start: container ${last.container} is in ${last.reason}${last.message ? `: ${last.message}` : ''}${hint}`,
          );
        }
      }
      if (Date.now() >= deadline) {
        if (last.kind === 'unschedulable')
          throw transientError(
            `the inference pod could not be scheduled within ${settings.startupTimeoutSeconds} s (inference.startupTimeoutSeconds): ${last.message}`,
          );
        const logs = pod ? await lastLines(namespace, pod, SERVER_CONTAINER) : '';
        throw transientError(
          `the inference pod was not ready within ${settings.startupTimeoutSeconds} s (inference.startupTimeoutSeconds); last state: ${'detail' in last ? last.detail : 'unknown'}${logs}`,
        );
      }
      await wait(Math.min(pollMs, Math.max(0, deadline - Date.now())), req.signal);
    }
  }

  async function launch(req: LaunchRequest, settings: KubernetesSettings): Promise<ServedModel> {
    let used: ReturnType<typeof placeholdersIn>;
    try {
      used = placeholdersIn(settings.args);
    } catch (err) {
      throw asArgsError(err);
    }
    const namespace = settings.namespace ?? opts.defaultNamespace;
    const name = jobNameFor(req.evaluationId);
    const checkpoint = await prepareCheckpoint(req, settings, name, {
      evalhookImage: opts.evalhookImage,
      wandbBaseURL: opts.wandbBaseURL,
    });
    const describe: Record<string, unknown> = {
      kind: 'kubernetes',
      namespace,
      job: name,
      image: settings.image,
      gpus: settings.gpus,
      artifactKind: checkpoint.kind,
      checkpoint: checkpoint.source.kind === 'init' ? 'init-container' : 'persistentVolumeClaim',
    };
    const values: PlaceholderValues = { name, port: String(settings.port), modelDir: checkpoint.podDir };
    let args: string[];
    try {
      if (checkpoint.kind === 'lora') {
        values.adapterDir = checkpoint.podDir;
        const base = checkpoint.base;
        if (base && 'baseModel' in base) {
          values.baseModel = base.baseModel;
          Object.assign(describe, { baseModel: base.baseModel, baseModelSource: base.source });
          for (const note of base.skipped) req.log(`[evalhook] ${note}; using ${base.baseModel} from ${base.source}`);
        } else if (base && used.has('baseModel')) {
          throw finalError(`cannot serve ${req.artifact.fullName}: ${base.error}`);
        }
        if (!used.has('adapterDir') && !used.has('modelDir'))
          throw finalError(
            'inference.args never receives the adapter: use {adapterDir} (e.g. --lora-modules {name}={adapterDir})',
          );
      } else if (!used.has('modelDir')) {
        throw finalError(
          `inference.args never receives the model: use {modelDir} (${req.artifact.fullName} is a full model)`,
        );
      }
      args = fillCommand(settings.args, values, (p) =>
        p === 'baseModel' || p === 'adapterDir'
          ? `${req.artifact.fullName} is a full model, not a LoRA adapter`
          : 'it has no value',
      );
    } catch (err) {
      await checkpoint.cleanup();
      throw asArgsError(err);
    }

    const job = buildJob({
      settings,
      name,
      namespace,
      evaluationId: req.evaluationId,
      prefix: opts.prefix,
      args,
      source: checkpoint.source,
    });
    let stopped: Promise<void> | undefined;
    const stop = (reason: string): Promise<void> => {
      stopped ??= (async () => {
        req.signal.removeEventListener('abort', onAbort);
        running.delete(stop);
        monitor.abort();
        req.log(`[evalhook] deleting Job ${namespace}/${name} (${reason})`);
        try {
          await api.deleteJob(namespace, name);
        } catch (err) {
          // The sweep (or ttlSecondsAfterFinished) removes it later; the evaluation's outcome stands.
          opts.logger?.warn({ err, job: name, namespace }, 'deleting the inference Job failed; the sweep will retry');
        } finally {
          await checkpoint.cleanup().catch(() => undefined);
        }
      })();
      return stopped;
    };
    const onAbort = () => void stop('the evaluation was cancelled or the worker is shutting down');
    const monitor = new AbortController();

    let created;
    try {
      created = await createReplacing(namespace, name, job, req);
    } catch (err) {
      await checkpoint.cleanup();
      if (req.signal.aborted) throw abortReason(req.signal);
      throw err;
    }
    running.add(stop);
    req.signal.addEventListener('abort', onAbort, { once: true });
    req.log(
      `[evalhook] created Job ${namespace}/${name} (${settings.image}, ${settings.gpus} GPU): ${JSON.stringify(args)}`,
    );
    const uid = created.metadata?.uid;
    const selector = uid ? `batch.kubernetes.io/controller-uid=${uid}` : `batch.kubernetes.io/job-name=${name}`;

    let baseURL: string;
    let model: string | undefined;
    try {
      const podIP = await waitReady(namespace, name, selector, settings, req);
      // An IPv6 pod address needs brackets in a URL.
      baseURL = `http://${podIP.includes(':') ? `[${podIP}]` : podIP}:${settings.port}/v1`;
      req.log(`[evalhook] inference pod ready at ${baseURL}`);
      const models = (
        await listModels(baseURL, {
          fetch: opts.fetch,
          signal: req.signal,
          timeoutMs: opts.callTimeoutMs ?? 30_000,
        }).catch((err: unknown) => {
          throw transientError(
            `the inference pod is Ready but ${baseURL}/models does not answer from the worker: ${errorText(err)} (a NetworkPolicy between workers and inference pods?)`,
          );
        })
      ).map((m) => m.id);
      model = used.has('name') ? name : models[0];
      if (!model || (used.has('name') && !models.includes(name)))
        throw finalError(
          `the inference server serves ${models.join(', ') || 'no model'}, not ${name}: pass {name} as the served or LoRA module name`,
        );
    } catch (err) {
      await stop(err instanceof InferenceError ? 'it failed to become ready' : 'the launch was aborted');
      if (req.signal.aborted) throw abortReason(req.signal);
      throw err;
    }
    describe.model = model;

    // A pod that dies mid-run (OOM, node loss, activeDeadlineSeconds) ends the attempt with its log.
    const exited = (async (): Promise<string> => {
      while (!monitor.signal.aborted) {
        await wait(pollMs * 5, monitor.signal);
        if (monitor.signal.aborted) break;
        const pod = await currentPod(namespace, selector).catch(() => 'unknown' as const);
        if (pod === 'unknown') continue;
        const state = pod ? podState(pod) : undefined;
        if (pod && state?.kind !== 'crashed') continue;
        const reason =
          pod && state?.kind === 'crashed'
            ? (await crashError(namespace, pod, state, 'during the evaluation')).message
            : `the inference pod of Job ${namespace}/${name} is gone`;
        if (monitor.signal.aborted) break;
        req.log(`[evalhook] ${reason.split('\n')[0] ?? reason}`);
        await stop('its pod failed');
        return reason;
      }
      return new Promise<string>(() => {}); // released by us: never settles
    })();

    return { baseURL, model, describe, exited, release: () => stop('the evaluation finished') };
  }

  return {
    launch,
    async shutdownAll() {
      await Promise.all([...running].map((stop) => stop('worker shutting down')));
    },
  };
}
