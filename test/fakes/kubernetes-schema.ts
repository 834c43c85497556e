/**
 * Kubernetes objects checked the way the API server checks them: the OpenAPI schema (through the
 * `kubernetes-models` package, generated from the upstream spec) plus the handful of server-side
 * rules the schema cannot express (DNS-1123 names, label syntax, Job restart policy, container
 * names, mounts of declared volumes, env var names, quantities). Used by the fake API server and
 * by the test over deploy/kubernetes/.
 */
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  'batch/v1/Job': Job,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/Secret': Secret,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const QUANTITY = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+)?$/;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Every problem the API server would answer 422 for (empty: accepted). */
export function validateObject(input: unknown): string[] {
  const o = obj(input);
  const key = `${String(o.apiVersion)}/${String(o.kind)}`;
  const Model = MODELS[key];
  if (!Model) return [`no schema for ${key}`];
  const problems: string[] = [];
  try {
    new Model(o as never).validate();
  } catch (err) {
    problems.push(`schema: ${(err as Error).message}`);
  }
  const meta = obj(o.metadata);
  const name = meta.name;
  if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name))
    problems.push(`metadata.name: ${JSON.stringify(name)} is not a DNS-1123 subdomain`);
  // Job and Service names become label values / DNS labels: 63 characters at most.
  if (
    (o.kind === 'Job' || o.kind === 'Service' || o.kind === 'StatefulSet') &&
    (typeof name !== 'string' || !DNS_LABEL.test(name))
  )
    problems.push(`metadata.name: ${JSON.stringify(name)} must be a DNS-1123 label (63 characters)`);
  problems.push(...labelProblems('metadata.labels', meta.labels));
  const spec = obj(o.spec);
  const template = obj(spec.template);
  if (o.kind === 'Job') {
    const rp = obj(template.spec).restartPolicy;
    if (rp !== 'Never' && rp !== 'OnFailure')
      problems.push(
        `spec.template.spec.restartPolicy: Unsupported value: ${JSON.stringify(rp)}: supported values: "OnFailure", "Never"`,
      );
  }
  if (Object.keys(template).length) {
    problems.push(...labelProblems('spec.template.metadata.labels', obj(template.metadata).labels));
    // A StatefulSet's claim templates are volumes of its pods too.
    const claims = arr(spec.volumeClaimTemplates).map((c) => obj(obj(c).metadata).name);
    problems.push(...podSpecProblems('spec.template.spec', obj(template.spec), claims));
  }
  if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
    const selector = obj(obj(spec.selector).matchLabels);
    const labels = obj(obj(template.metadata).labels);
    for (const [k, v] of Object.entries(selector))
      if (labels[k] !== v) problems.push(`spec.template.metadata.labels: does not match selector ${k}=${String(v)}`);
  }
  return problems;
}

function labelProblems(path: string, labels: unknown): string[] {
  return Object.entries(obj(labels)).flatMap(([k, v]) => [
    ...(LABEL_KEY.test(k) ? [] : [`${path}: invalid label key ${JSON.stringify(k)}`]),
    ...(typeof v === 'string' && LABEL_VALUE.test(v) ? [] : [`${path}.${k}: invalid label value ${JSON.stringify(v)}`]),
  ]);
}

function podSpecProblems(path: string, spec: Obj, claims: unknown[]): string[] {
  const problems: string[] = [];
  const volumes = new Set([...arr(spec.volumes).map((v) => obj(v).name), ...claims]);
  for (const t of arr(spec.tolerations)) {
    const tol = obj(t);
    if (tol.operator === 'Exists' && tol.value)
      problems.push(`${path}.tolerations: value must be empty when \`operator\` is 'Exists'`);
    if (!tol.key && tol.operator !== 'Exists')
      problems.push(`${path}.tolerations: operator must be Exists when \`key\` is empty`);
  }
  const names = new Set<unknown>();
  const containers = [
    ...arr(spec.initContainers).map((c) => ['initContainers', c] as const),
    ...arr(spec.containers).map((c) => ['containers', c] as const),
  ];
  if (!arr(spec.containers).length) problems.push(`${path}.containers: Required value`);
  for (const [field, raw] of containers) {
    const c = obj(raw);
    const at = `${path}.${field}[${String(c.name)}]`;
    if (typeof c.name !== 'string' || !DNS_LABEL.test(c.name)) problems.push(`${at}.name: must be a DNS-1123 label`);
    if (names.has(c.name)) problems.push(`${at}.name: Duplicate value`);
    names.add(c.name);
    if (typeof c.image !== 'string' || !c.image.trim()) problems.push(`${at}.image: Required value`);
    for (const m of arr(c.volumeMounts))
      if (!volumes.has(obj(m).name)) problems.push(`${at}.volumeMounts: Not found: ${JSON.stringify(obj(m).name)}`);
    for (const e of arr(c.env)) {
      const ev = obj(e);
      if (typeof ev.name !== 'string' || !ENV_NAME.test(ev.name))
        problems.push(`${at}.env: invalid name ${JSON.stringify(ev.name)}`);
      if (ev.value !== undefined && ev.valueFrom !== undefined)
        problems.push(`${at}.env[${String(ev.name)}]: may not have both value and valueFrom`);
    }
    for (const p of arr(c.ports)) {
      const port = obj(p).containerPort;
      if (typeof port !== 'number' || port < 1 || port > 65535)
        problems.push(`${at}.ports: containerPort ${String(port)} out of range`);
    }
    const res = obj(c.resources);
    for (const kind of ['limits', 'requests'] as const) {
      for (const [r, q] of Object.entries(obj(res[kind])))
        if (!QUANTITY.test(String(q)))
          problems.push(`${at}.resources.${kind}.${r}: ${JSON.stringify(q)} is not a quantity`);
    }
  }
  return problems;
}
