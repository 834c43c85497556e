/**
 * The `kubernetes` inference profile fields (zod), kept beside the launcher so src/profile.ts only
 * adds the kind. Everything here ends up in a Job manifest, so each field is held to the API
 * server's own rules (names, quantities, enums) and a typo fails at config load, not as a 422 later.
 */
import { z } from 'zod';
import { isCredentialEnvName } from '../../secrets.js';

/** DNS-1123 label: namespaces, container-facing names. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** DNS-1123 subdomain: Secret, ServiceAccount and PVC names. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const subdomain = z
  .string()
  .max(253)
  .regex(DNS_SUBDOMAIN, 'a Kubernetes name (lowercase letters, digits, "-" and ".")');
const quantity = z.union([
  z.number().nonnegative(),
  z
    .string()
    .regex(/^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/, 'a Kubernetes quantity such as 500m, 4, 16Gi'),
]);
/** Resource names: `cpu`, `memory`, `ephemeral-storage`, `vendor.example/thing`. */
const resourceName = z.string().regex(/^([a-z0-9.-]+\/)?[a-zA-Z0-9][-a-zA-Z0-9_.]*$/, 'a resource name');
const resourceList = z.record(resourceName, quantity);
const labelKey = z
  .string()
  .regex(/^([a-z0-9.-]{1,253}\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/, 'a label key');
const labelValue = z.string().regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/, 'a label value');
const envVarName = z.string().regex(/^[-._a-zA-Z][-._a-zA-Z0-9]*$/, 'an environment variable name');
const keyRef = z.strictObject({
  name: subdomain,
  key: z.string().regex(/^[-._a-zA-Z0-9]+$/, 'a Secret/ConfigMap key'),
  optional: z.boolean().optional(),
});

const EnvVar = z.union([
  z.strictObject({ name: envVarName, value: z.string() }).refine((e) => !isCredentialEnvName(e.name), {
    // A credential's value must come from a Secret, never sit in the profile (the secret policy decides the names).
    message: 'looks like a credential: pass it by reference (valueFrom.secretKeyRef), never as a value in the profile',
    path: ['value'],
  }),
  z.strictObject({
    name: envVarName,
    valueFrom: z.union([z.strictObject({ secretKeyRef: keyRef }), z.strictObject({ configMapKeyRef: keyRef })]),
  }),
]);

const Toleration = z.strictObject({
  key: labelKey.optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: labelValue.optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.number().int().optional(),
});

/** `repo[:port]/name:tag` (not latest) or `…@sha256:<digest>`: a moving tag would make two evaluations serve different code. */
const PINNED_IMAGE =
  /^[A-Za-z0-9][A-Za-z0-9._/:-]*(:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$/;
const image = z
  .string()
  .max(512)
  .refine(
    (s) => PINNED_IMAGE.test(s) && !/:latest@/.test(s) && /:[^/]+$|@sha256:/.test(s),
    'a pinned image reference (repo/name:tag, not :latest, or @sha256:digest)',
  );

export const kubernetesFields = {
  /** Default: the worker's own namespace (in-cluster), else "default". */
  namespace: z.string().regex(DNS_LABEL, 'a namespace name (DNS-1123 label)').optional(),
  image,
  gpus: z.number().int().nonnegative().default(1),
  port: z.number().int().min(1).max(65535).default(8000),
  /** Container args; placeholders as for `process`: {baseModel} {port} {name} {adapterDir} {modelDir}. */
  args: z.array(z.string().min(1)).min(1),
  /** Extra requests/limits (cpu, memory); GPUs come from `gpus`. */
  resources: z
    .strictObject({ requests: resourceList.optional(), limits: resourceList.optional() })
    .refine((r) => !r.limits?.['nvidia.com/gpu'] && !r.requests?.['nvidia.com/gpu'], {
      message: 'set GPUs with inference.gpus, not resources',
    })
    .default({}),
  nodeSelector: z.record(labelKey, labelValue).default({}),
  tolerations: z.array(Toleration).default([]),
  serviceAccountName: subdomain.optional(),
  /** Secrets by reference only (valueFrom.secretKeyRef). */
  env: z.array(EnvVar).default([]),
  /** Secret holding the W&B API key for the init container that fetches the checkpoint. */
  wandbApiKeySecret: keyRef.omit({ optional: true }).optional(),
  /** Instead of the init container: a shared volume the workers copy the checkpoint into. */
  persistentVolumeClaim: z
    .strictObject({
      claimName: subdomain,
      /** Where the same claim is mounted on the workers. */
      workerPath: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, 'an absolute path'),
    })
    .optional(),
  /** Pending, pulling and loading longer than this fails the attempt. */
  startupTimeoutSeconds: z.number().int().positive().default(1800),
  activeDeadlineSeconds: z.number().int().positive().default(21_600),
};
