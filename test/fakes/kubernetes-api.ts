/**
 * A fake Kubernetes API server over real HTTP (node:http, port 0) serving what the kubernetes
 * launcher calls through @kubernetes/client-node: Jobs (create, get, list, delete) in batch/v1, Pods
 * (list) and pod logs in v1. Every Job it receives is validated against the Kubernetes OpenAPI schema
 * plus the server-side rules (kubernetes-schema.ts) and refused with a 422 Status as the real server
 * would; a missing or wrong bearer token is a 401; `deny(verb, resource)` answers 403 as RBAC does.
 *
 * Creating a Job creates its pod. The pod moves one step through its scenario each time pods are
 * listed (no timers: tests never depend on timing):
 *   ready          Pending (unscheduled) -> Init:Running -> Running (not ready) -> Ready at `podIP`
 *   unschedulable  PodScheduled=False/Unschedulable with the scheduler's message, forever
 *   image-pull     ErrImagePull, then ImagePullBackOff
 *   crash          the server container exits with code 1 before it is ready
 *   init-fails     the fetch-artifact init container exits with `exitCode` (default 78)
 *   crash-later    Ready, then terminated after `readyFor` more listings
 * With `runInit`, the pod's init container really runs (its env resolved from `secrets`, a missing
 * Secret being CreateContainerConfigError as on a kubelet): the pod stays Init:Running until it
 * returns, and a non-zero exit code fails the pod with the init container's output as its log.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateObject } from './kubernetes-schema.js';

export type PodScenario =
  | { kind: 'ready'; podIP?: string; steps?: number }
  | { kind: 'unschedulable'; message?: string }
  | { kind: 'image-pull' }
  | { kind: 'crash'; exitCode?: number }
  | { kind: 'init-fails'; exitCode?: number }
  | { kind: 'crash-later'; readyFor: number; podIP?: string }
  | { kind: 'config-error'; container: string; message: string };

type Obj = Record<string, any>; // loosely typed: request bodies and manifests as parsed

export interface FakeJob {
  namespace: string;
  body: Obj;
  pod: FakePod;
}

export interface FakePod {
  name: string;
  scenario: PodScenario;
  step: number;
  logs: Record<string, string[]>;
  /** The init container run by `runInit`: pending until `result` is set. */
  init?: { result?: { exitCode: number; logs: string[] } };
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

export interface FakeKubernetesOptions {
  token?: string;
  /** The scenario for each new Job's pod (default: ready at 127.0.0.1). */
  scenario?: (job: Obj) => PodScenario;
  /** Log lines per container name for each new pod. */
  logs?: (job: Obj) => Record<string, string[]>;
  /** Secrets in every namespace: name -> key -> value (what secretKeyRef resolves to). */
  secrets?: Record<string, Record<string, string>>;
  /** Runs an init container with its resolved env; the exit code decides the pod's fate. */
  runInit?: (container: Obj, env: Record<string, string>) => Promise<{ exitCode: number; logs: string[] }>;
}

export interface FakeKubernetes {
  url: string;
  token: string;
  calls: RecordedCall[];
  /** Jobs that exist now, by `<namespace>/<name>`. */
  jobs: Map<string, FakeJob>;
  /** Every Job body accepted, in order (deleted ones included). */
  created: Obj[];
  /** Deletions with their propagation policy. */
  deletions: Array<{ namespace: string; name: string; propagationPolicy?: string }>;
  /** 422s sent, with the problems found. */
  rejected: Array<{ body: unknown; problems: string[] }>;
  setScenario(fn: (job: Obj) => PodScenario): void;
  /** Answer 403 to this verb on this resource (`create jobs`, `get pods/log`, ...). */
  deny(verb: string, resource: string): void;
  /** A Job as if left behind by a dead worker (already running). */
  seedJob(namespace: string, body: Obj): void;
  /** Writes a kubeconfig for this server (http, insecure-skip-tls-verify as the client requires). */
  writeKubeconfig(dir: string): string;
  close(): Promise<void>;
}

const UNSCHEDULABLE =
  '0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';

function status(code: number, reason: string, message: string, details?: Obj): Obj {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
    ...(details ? { details } : {}),
  };
}

/** Equality-based selectors (`a=b,c=d`, `a!=b`), which is all the launcher uses. */
function matches(selector: string | undefined, labels: Obj | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const ne = term.split('!=');
    if (ne.length === 2) return labels?.[ne[0]!] !== ne[1];
    const [k, v] = term.split(/==?/);
    return labels?.[k!] === v;
  });
}

function containerStatus(name: string, state: Obj, ready = false): Obj {
  return { name, image: 'img', imageID: '', ready, restartCount: 0, started: Boolean(state.running), state };
}

/** The pod object for the current step of its scenario. */
function podObject(job: FakeJob): Obj {
  const { pod } = job;
  const spec = job.body.spec.template.spec as Obj;
  const initNames: string[] = (spec.initContainers ?? []).map((c: Obj) => c.name);
  const names: string[] = (spec.containers ?? []).map((c: Obj) => c.name);
  const uid = job.body.metadata.uid as string;
  const jobName = job.body.metadata.name as string;
  const at = new Date(0).toISOString();
  const running = { running: { startedAt: at } };
  const waiting = (reason: string, message?: string) => ({ waiting: { reason, ...(message ? { message } : {}) } });
  const doneInit = initNames.map((n) => containerStatus(n, { terminated: { exitCode: 0, reason: 'Completed' } }));
  const cond = (type: string, value: boolean, reason?: string, message?: string) => ({
    type,
    status: value ? 'True' : 'False',
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  });
  let status: Obj;
  const s = pod.scenario;
  const step = pod.step;
  const starting = (n: number): Obj | undefined => {
    if (n === 0) return { phase: 'Pending', conditions: [cond('PodScheduled', true)] };
    if (n === 1 && initNames.length)
      return {
        phase: 'Pending',
        conditions: [cond('PodScheduled', true), cond('Initialized', false)],
        initContainerStatuses: initNames.map((x) => containerStatus(x, running)),
        containerStatuses: names.map((x) => containerStatus(x, waiting('PodInitializing'))),
      };
    if (n <= 2)
      return {
        phase: 'Running',
        podIP: (s as { podIP?: string }).podIP ?? '127.0.0.1',
        conditions: [cond('PodScheduled', true), cond('Initialized', true), cond('Ready', false, 'ContainersNotReady')],
        initContainerStatuses: doneInit,
        containerStatuses: names.map((x) => containerStatus(x, running)),
      };
    return undefined;
  };
  const ready = (podIP: string) => ({
    phase: 'Running',
    podIP,
    podIPs: [{ ip: podIP }],
    conditions: [
      cond('PodScheduled', true),
      cond('Initialized', true),
      cond('ContainersReady', true),
      cond('Ready', true),
    ],
    initContainerStatuses: doneInit,
    containerStatuses: names.map((x) => containerStatus(x, running, true)),
  });
  switch (s.kind) {
    case 'ready':
      status = starting(step) ?? ready(s.podIP ?? '127.0.0.1');
      break;
    case 'crash-later':
      status =
        starting(step) ??
        (step < 3 + s.readyFor
          ? ready(s.podIP ?? '127.0.0.1')
          : {
              phase: 'Failed',
              conditions: [cond('Ready', false)],
              initContainerStatuses: doneInit,
              containerStatuses: names.map((x) =>
                containerStatus(x, { terminated: { exitCode: 137, reason: 'OOMKilled' } }),
              ),
            });
      break;
    case 'unschedulable':
      status = {
        phase: 'Pending',
        conditions: [cond('PodScheduled', false, 'Unschedulable', s.message ?? UNSCHEDULABLE)],
      };
      break;
    case 'image-pull':
      status = {
        phase: 'Pending',
        conditions: [cond('PodScheduled', true)],
        initContainerStatuses: doneInit,
        containerStatuses: names.map((x) =>
          containerStatus(
            x,
            step === 0
              ? waiting(
                  'ErrImagePull',
                  `failed to pull and unpack image "${String(spec.containers[0].image)}": not found`,
                )
              : waiting('ImagePullBackOff', `Back-off pulling image "${String(spec.containers[0].image)}"`),
          ),
        ),
      };
      break;
    case 'crash':
      status =
        step < 2
          ? starting(step)!
          : {
              phase: 'Failed',
              conditions: [cond('Ready', false)],
              initContainerStatuses: doneInit,
              containerStatuses: names.map((x) =>
                containerStatus(x, { terminated: { exitCode: s.exitCode ?? 1, reason: 'Error' } }),
              ),
            };
      break;
    case 'config-error':
      status = {
        phase: 'Pending',
        conditions: [cond('PodScheduled', true), cond('Initialized', false)],
        initContainerStatuses: initNames.map((x) =>
          containerStatus(
            x,
            x === s.container ? waiting('CreateContainerConfigError', s.message) : waiting('PodInitializing'),
          ),
        ),
        containerStatuses: names.map((x) => containerStatus(x, waiting('PodInitializing'))),
      };
      break;
    case 'init-fails':
      status =
        step < 1
          ? starting(0)!
          : {
              phase: 'Failed',
              conditions: [cond('Initialized', false)],
              initContainerStatuses: initNames.map((x) =>
                containerStatus(x, { terminated: { exitCode: s.exitCode ?? 78, reason: 'Error' } }),
              ),
              containerStatuses: names.map((x) => containerStatus(x, waiting('PodInitializing'))),
            };
      break;
  }
  const labels = {
    ...(job.body.spec.template.metadata?.labels ?? {}),
    'batch.kubernetes.io/controller-uid': uid,
    'controller-uid': uid,
    'batch.kubernetes.io/job-name': jobName,
    'job-name': jobName,
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: job.namespace,
      uid: `pod-${uid}`,
      labels,
      creationTimestamp: job.body.metadata.creationTimestamp,
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid, controller: true }],
    },
    spec,
    status,
  };
}

export async function startFakeKubernetes(opts: FakeKubernetesOptions = {}): Promise<FakeKubernetes> {
  const token = opts.token ?? `fake-k8s-token-${randomBytes(8).toString('hex')}`;
  let scenario = opts.scenario ?? (() => ({ kind: 'ready' }) as PodScenario);
  const calls: RecordedCall[] = [];
  const jobs = new Map<string, FakeJob>();
  const created: Obj[] = [];
  const deletions: FakeKubernetes['deletions'] = [];
  const rejected: FakeKubernetes['rejected'] = [];
  const denied = new Set<string>();
  let rv = 1;
  const sockets = new Set<Socket>();

  function addJob(namespace: string, body: Obj): FakeJob {
    const meta = body.metadata as Obj;
    meta.namespace = namespace;
    meta.uid = randomUUID();
    meta.resourceVersion = String(rv++);
    meta.creationTimestamp = new Date().toISOString();
    body.status = {};
    const job: FakeJob = {
      namespace,
      body,
      pod: {
        name: `${String(meta.name).slice(0, 57)}-${randomBytes(3).toString('hex').slice(0, 5)}`,
        scenario: scenario(body),
        step: 0,
        logs: opts.logs?.(body) ?? {},
      },
    };
    jobs.set(`${namespace}/${String(meta.name)}`, job);
    return job;
  }

  /** Runs the first init container through `runInit`, as the kubelet would once the pod is scheduled. */
  function startInit(j: FakeJob) {
    const init = (j.body.spec.template.spec.initContainers ?? [])[0] as Obj | undefined;
    if (!opts.runInit || !init || j.pod.scenario.kind !== 'ready') return;
    const env: Record<string, string> = {};
    for (const e of (init.env ?? []) as Obj[]) {
      const ref = e.valueFrom?.secretKeyRef as Obj | undefined;
      if (!ref) {
        env[e.name as string] = String(e.value ?? '');
        continue;
      }
      const value = opts.secrets?.[ref.name as string]?.[ref.key as string];
      if (value === undefined) {
        j.pod.scenario = {
          kind: 'config-error',
          container: init.name as string,
          message: `secret "${String(ref.name)}" not found`,
        };
        return;
      }
      env[e.name as string] = value;
    }
    const state: NonNullable<FakePod['init']> = {};
    j.pod.init = state;
    void opts
      .runInit(init, env)
      .then(
        (result) => (state.result = result),
        (err: unknown) => (state.result = { exitCode: 1, logs: [String(err)] }),
      )
      .then((result) => {
        j.pod.logs[init.name as string] = result.logs;
        if (result.exitCode !== 0) {
          j.pod.scenario = { kind: 'init-fails', exitCode: result.exitCode };
          j.pod.step = 1;
        }
      });
  }

  function handle(req: IncomingMessage, body: Buffer, res: ServerResponse, rec: RecordedCall) {
    const send = (code: number, payload: unknown, type = 'application/json') => {
      rec.status = code;
      res.writeHead(code, { 'content-type': type });
      res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
    };
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
    const path = rec.path;
    let m: RegExpExecArray | null;
    const forbid = (verb: string, resource: string, ns: string, name?: string) => {
      if (!denied.has(`${verb} ${resource}`)) return false;
      const [res0, sub] = resource.split('/');
      const group = res0 === 'jobs' ? '"batch"' : '""';
      send(
        403,
        status(
          403,
          'Forbidden',
          `${res0}${name ? ` "${name}"` : ''} is forbidden: User "system:serviceaccount:${ns}:evalhook" cannot ${verb} resource "${res0}"${sub ? ` subresource "${sub}"` : ''} in API group ${group} in the namespace "${ns}"`,
        ),
      );
      return true;
    };
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(path))) {
      const ns = decodeURIComponent(m[1]!);
      if (req.method === 'POST') {
        if (forbid('create', 'jobs', ns)) return;
        let job: Obj;
        try {
          job = JSON.parse(body.toString('utf8')) as Obj;
        } catch {
          return send(400, status(400, 'BadRequest', 'the body is not JSON'));
        }
        const problems = validateObject(job);
        if (job.metadata?.namespace !== undefined && job.metadata.namespace !== ns)
          problems.push('metadata.namespace: does not match the namespace of the request');
        if (problems.length) {
          rejected.push({ body: job, problems });
          return send(
            422,
            status(422, 'Invalid', `Job.batch "${String(job.metadata?.name)}" is invalid: ${problems.join('; ')}`),
          );
        }
        if (jobs.has(`${ns}/${String(job.metadata.name)}`))
          return send(409, status(409, 'AlreadyExists', `jobs.batch "${String(job.metadata.name)}" already exists`));
        created.push(structuredClone(job));
        return send(201, addJob(ns, job).body);
      }
      if (req.method === 'GET') {
        if (forbid('list', 'jobs', ns)) return;
        const items = [...jobs.values()]
          .filter((j) => j.namespace === ns && matches(rec.query.labelSelector, j.body.metadata.labels))
          .map((j) => j.body);
        return send(200, { apiVersion: 'batch/v1', kind: 'JobList', metadata: { resourceVersion: String(rv) }, items });
      }
    }
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)$/.exec(path))) {
      const ns = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const key = `${ns}/${name}`;
      if (req.method === 'GET') {
        if (forbid('get', 'jobs', ns, name)) return;
        const j = jobs.get(key);
        return j ? send(200, j.body) : send(404, status(404, 'NotFound', `jobs.batch "${name}" not found`));
      }
      if (req.method === 'DELETE') {
        if (forbid('delete', 'jobs', ns, name)) return;
        const opts2 = body.length ? (JSON.parse(body.toString('utf8')) as Obj) : {};
        const propagationPolicy = rec.query.propagationPolicy ?? opts2.propagationPolicy;
        if (propagationPolicy !== undefined && !['Background', 'Foreground', 'Orphan'].includes(propagationPolicy))
          return send(422, status(422, 'Invalid', `propagationPolicy ${String(propagationPolicy)} is not supported`));
        const j = jobs.get(key);
        if (!j) return send(404, status(404, 'NotFound', `jobs.batch "${name}" not found`));
        jobs.delete(key);
        deletions.push({ namespace: ns, name, propagationPolicy });
        return send(200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, group: 'batch', kind: 'jobs', uid: j.body.metadata.uid },
        });
      }
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path)) && req.method === 'GET') {
      const ns = decodeURIComponent(m[1]!);
      if (forbid('list', 'pods', ns)) return;
      const items = [...jobs.values()]
        .filter((j) => j.namespace === ns)
        .map((j) => ({ j, pod: podObject(j) }))
        .filter(({ pod }) => matches(rec.query.labelSelector, pod.metadata.labels));
      for (const { j } of items) {
        // An init container still running holds the pod at Init:Running.
        if (j.pod.init && !j.pod.init.result) continue;
        j.pod.step += 1;
        if (j.pod.step === 1) startInit(j);
      }
      return send(200, {
        apiVersion: 'v1',
        kind: 'PodList',
        metadata: { resourceVersion: String(rv) },
        items: items.map((i) => i.pod),
      });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(path)) && req.method === 'GET') {
      const ns = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      if (forbid('get', 'pods/log', ns, name)) return;
      const j = [...jobs.values()].find((x) => x.namespace === ns && x.pod.name === name);
      if (!j) return send(404, status(404, 'NotFound', `pods "${name}" not found`));
      const containers = [
        ...(j.body.spec.template.spec.initContainers ?? []),
        ...j.body.spec.template.spec.containers,
      ].map((c: Obj) => c.name as string);
      const container = rec.query.container ?? containers[containers.length - 1];
      if (!containers.includes(container!))
        return send(400, status(400, 'BadRequest', `container ${String(container)} is not valid for pod ${name}`));
      const tail = rec.query.tailLines ? Number(rec.query.tailLines) : undefined;
      const lines = j.pod.logs[container!] ?? [];
      const out = tail !== undefined ? lines.slice(-tail) : lines;
      return send(200, out.length ? `${out.join('\n')}\n` : '', 'text/plain');
    }
    send(404, status(404, 'NotFound', `the server could not find the requested resource (${req.method} ${path})`));
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const rec: RecordedCall = {
        method: req.method ?? '',
        path: u.pathname,
        query: Object.fromEntries(u.searchParams),
        status: 0,
      };
      calls.push(rec);
      try {
        handle(req, Buffer.concat(chunks), res, rec);
      } catch (err) {
        rec.status = 500;
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status(500, 'InternalError', (err as Error).message)));
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    token,
    calls,
    jobs,
    created,
    deletions,
    rejected,
    setScenario: (fn) => (scenario = fn),
    deny: (verb, resource) => denied.add(`${verb} ${resource}`),
    seedJob(namespace, body) {
      const job = addJob(namespace, structuredClone(body));
      job.pod.step = 10;
    },
    writeKubeconfig(dir) {
      const file = join(dir, 'kubeconfig.yaml');
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          `- name: fake\n  cluster:\n    server: ${url}\n    insecure-skip-tls-verify: true`,
          'users:',
          `- name: evalhook\n  user:\n    token: ${token}`,
          'contexts:',
          '- name: fake\n  context:\n    cluster: fake\n    user: evalhook\n    namespace: evalhook',
          'current-context: fake',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      return file;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
