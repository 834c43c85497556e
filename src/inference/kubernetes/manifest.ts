/**
 * The batch/v1 Job for one evaluation: one pod (restartPolicy Never, backoffLimit 0) running the
 * inference server with a readiness probe, bounded by activeDeadlineSeconds and garbage-collected by
 * ttlSecondsAfterFinished should evalhook never get to delete it. The checkpoint arrives in /models,
 * either fetched by an init container running evalhook's own image or from a shared claim.
 */
import type { V1Container, V1EnvVar, V1Job, V1SecurityContext, V1Volume } from '@kubernetes/client-node';
import type { InferenceSettings } from '../../profile.js';
import {
  EVALUATION_ANNOTATION,
  EVALUATION_LABEL,
  INIT_CONTAINER,
  labelValueFor,
  MANAGED_BY,
  QUEUE_LABEL,
  SERVER_CONTAINER,
} from './names.js';

export type KubernetesSettings = Extract<InferenceSettings, { kind: 'kubernetes' }>;

/** Where the checkpoint is mounted in the pod (both modes). */
export const MODELS_DIR = '/models';
/** Finished Jobs the launcher did not delete (worker killed) go after this long. */
export const TTL_AFTER_FINISHED_SECONDS = 600;

export type CheckpointSource =
  | {
      kind: 'init';
      evalhookImage: string;
      artifactId: string;
      baseModel?: string;
      wandbBaseURL: string;
      secret: { name: string; key: string };
    }
  | { kind: 'pvc'; claimName: string };

export interface JobSpecInput {
  settings: KubernetesSettings;
  name: string;
  namespace: string;
  evaluationId: string;
  /** QUEUE_PREFIX: the sweep of one installation leaves another's Jobs alone. */
  prefix: string;
  /** Container args with placeholders already filled. */
  args: string[];
  source: CheckpointSource;
}

/** Non-root, nothing to escalate to, read-only root (fetch-artifact only writes to /models). */
const RESTRICTED: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

function initContainer(src: Extract<CheckpointSource, { kind: 'init' }>): V1Container {
  const args = [
    'fetch-artifact',
    '--artifact',
    src.artifactId,
    '--to',
    MODELS_DIR,
    ...(src.baseModel ? ['--base-model', src.baseModel] : []),
  ];
  return {
    name: INIT_CONTAINER,
    image: src.evalhookImage,
    args,
    env: [
      { name: 'WANDB_API_KEY', valueFrom: { secretKeyRef: { name: src.secret.name, key: src.secret.key } } },
      { name: 'WANDB_BASE_URL', value: src.wandbBaseURL },
      { name: 'LOG_LEVEL', value: 'info' },
    ],
    volumeMounts: [
      { name: 'models', mountPath: MODELS_DIR },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    securityContext: RESTRICTED,
    resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } },
  };
}

function quantities(list: Record<string, string | number> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(list ?? {}).map(([k, v]) => [k, String(v)]));
}

export function buildJob(input: JobSpecInput): V1Job {
  const { settings, source } = input;
  const labels = {
    [MANAGED_BY]: 'evalhook',
    [EVALUATION_LABEL]: labelValueFor(input.evaluationId),
    [QUEUE_LABEL]: labelValueFor(input.prefix),
  };
  const limits = quantities(settings.resources.limits);
  if (settings.gpus > 0) limits['nvidia.com/gpu'] = String(settings.gpus);
  const requests = quantities(settings.resources.requests);
  const volumes: V1Volume[] = [
    source.kind === 'init'
      ? { name: 'models', emptyDir: {} }
      : { name: 'models', persistentVolumeClaim: { claimName: source.claimName, readOnly: true } },
    // vLLM's workers share tensors through /dev/shm, which is 64 MiB in a container by default.
    { name: 'dshm', emptyDir: { medium: 'Memory' } },
    { name: 'tmp', emptyDir: {} },
  ];
  const server: V1Container = {
    name: SERVER_CONTAINER,
    image: settings.image,
    args: input.args,
    ports: [{ name: 'http', containerPort: settings.port, protocol: 'TCP' }],
    env: settings.env as V1EnvVar[],
    resources: {
      ...(Object.keys(limits).length ? { limits } : {}),
      ...(Object.keys(requests).length ? { requests } : {}),
    },
    readinessProbe: {
      httpGet: { path: '/v1/models', port: settings.port },
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 3,
    },
    volumeMounts: [
      { name: 'models', mountPath: MODELS_DIR, readOnly: true },
      { name: 'dshm', mountPath: '/dev/shm' },
    ],
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: input.name,
      namespace: input.namespace,
      labels,
      annotations: { [EVALUATION_ANNOTATION]: input.evaluationId },
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: settings.activeDeadlineSeconds,
      ttlSecondsAfterFinished: TTL_AFTER_FINISHED_SECONDS,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(settings.serviceAccountName
            ? { serviceAccountName: settings.serviceAccountName }
            : { automountServiceAccountToken: false }),
          enableServiceLinks: false,
          nodeSelector: settings.nodeSelector,
          tolerations: settings.tolerations,
          ...(source.kind === 'init' ? { initContainers: [initContainer(source)] } : {}),
          containers: [server],
          volumes,
        },
      },
    },
  };
}
