/**
 * The few Kubernetes API calls the launcher makes, through the official client, with every failure
 * turned into an InferenceError a person can act on: 403 names the RBAC verb and resource the
 * service account lacks, 422 (an invalid spec) is final with the API server's reason, 5xx/429/network
 * errors are retryable.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ApiException, BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { z } from 'zod';
import { errorText, finalError, InferenceError, transientError } from '../errors.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * In-cluster service-account credentials, else KUBECONFIG (or ~/.kube/config) as the client loads it.
 * The client's last resort (an unauthenticated http://localhost:8080) is refused: it is never what
 * an operator meant.
 */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env, saDir = SA_DIR): KubeConfig {
  const kc = new KubeConfig();
  if (env.KUBERNETES_SERVICE_HOST && existsSync(`${saDir}/token`)) kc.loadFromCluster();
  else if (env.KUBECONFIG || existsSync(join(homedir(), '.kube', 'config'))) kc.loadFromDefault();
  if (!kc.getCurrentCluster())
    throw finalError(
      'no Kubernetes credentials for the kubernetes inference kind: run the worker in the cluster (service account) or set KUBECONFIG',
    );
  return kc;
}

/** The worker's own namespace when it runs in a pod (the profile's default), else undefined. */
export function ownNamespace(saDir = SA_DIR): string | undefined {
  try {
    return readFileSync(`${saDir}/namespace`, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The parts of a meta/v1 Status error body we read. */
const Status = z.object({ message: z.string().optional(), reason: z.string().optional() }).loose();

function statusMessage(body: unknown): string {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.slice(0, 500);
    }
  }
  const s = Status.safeParse(parsed);
  return (s.success && s.data.message) || JSON.stringify(parsed)?.slice(0, 500) || '';
}

export interface KubeApi {
  createJob(namespace: string, job: V1Job): Promise<V1Job>;
  /** undefined when it does not exist. */
  readJob(namespace: string, name: string): Promise<V1Job | undefined>;
  /** Propagation Background: the pod goes with it; a Job already gone is fine. */
  deleteJob(namespace: string, name: string): Promise<void>;
  listJobs(namespace: string, labelSelector: string): Promise<V1Job[]>;
  listPods(namespace: string, labelSelector: string): Promise<V1Pod[]>;
  podLog(namespace: string, pod: string, container: string, tailLines: number): Promise<string>;
}

export class KubeApiError extends InferenceError {
  constructor(
    message: string,
    readonly status: number | undefined,
    retryable: boolean,
    cause?: unknown,
  ) {
    super(message, { retryable, cause }, 'EVALHOOK_ERR_KUBE_API');
    this.name = 'KubeApiError';
  }
}

/** What a failed call means, worded for the person who reads the evaluation's failure. */
export function kubeError(err: unknown, verb: string, resource: string, namespace: string): InferenceError {
  if (err instanceof InferenceError) return err;
  const what = `${verb} ${resource} in namespace ${namespace}`;
  if (!(err instanceof ApiException))
    return new KubeApiError(`Kubernetes API unreachable (${what}): ${errorText(err)}`, undefined, true, err);
  const code = err.code;
  const message = statusMessage(err.body);
  if (code === 403) {
    return new KubeApiError(
      `Kubernetes RBAC: the worker's service account may not "${verb}" ${resource} in namespace ${namespace} (403: ${message}). Grant verb "${verb}" on ${resource} in its Role (deploy/kubernetes/rbac.yaml)`,
      code,
      false,
      err,
    );
  }
  if (code === 401)
    return new KubeApiError(
      `Kubernetes API rejected the worker's credentials (401) while trying to ${what}: ${message}`,
      code,
      false,
      err,
    );
  if (code === 422)
    return new KubeApiError(
      `the Kubernetes API server refused the ${resource} spec as invalid (422): ${message}`,
      code,
      false,
      err,
    );
  if (code === 404 && resource === 'jobs' && verb === 'create')
    return new KubeApiError(`namespace ${namespace} does not exist (404): ${message}`, code, false, err);
  const retryable = code === 429 || code >= 500 || code === 409;
  return new KubeApiError(`Kubernetes API error ${code} trying to ${what}: ${message}`, code, retryable, err);
}

function isStatus(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

/** A hung API server must not hang the evaluation: each call gets a deadline. */
async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(transientError(`Kubernetes API call timed out after ${ms / 1000} s (${what})`)),
      ms,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createKubeApi(kc: KubeConfig, callTimeoutMs = 30_000): KubeApi {
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const call = async <T>(verb: string, resource: string, namespace: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await bounded(fn(), callTimeoutMs, `${verb} ${resource}`);
    } catch (err) {
      throw kubeError(err, verb, resource, namespace);
    }
  };
  return {
    createJob: (namespace, body) =>
      call('create', 'jobs', namespace, () => batch.createNamespacedJob({ namespace, body })),
    readJob: (namespace, name) =>
      call('get', 'jobs', namespace, () =>
        batch.readNamespacedJob({ namespace, name }).catch((err: unknown) => {
          if (isStatus(err, 404)) return undefined;
          throw err;
        }),
      ),
    deleteJob: (namespace, name) =>
      call('delete', 'jobs', namespace, async () => {
        await batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' }).catch((err: unknown) => {
          if (!isStatus(err, 404)) throw err;
        });
      }),
    listJobs: (namespace, labelSelector) =>
      call('list', 'jobs', namespace, async () => (await batch.listNamespacedJob({ namespace, labelSelector })).items),
    listPods: (namespace, labelSelector) =>
      call('list', 'pods', namespace, async () => (await core.listNamespacedPod({ namespace, labelSelector })).items),
    podLog: (namespace, name, container, tailLines) =>
      call('get', 'pods/log', namespace, () => core.readNamespacedPodLog({ namespace, name, container, tailLines })),
  };
}
