/**
 * A fake W&B server over real HTTP (node:http, port 0) for tests of the W&B adapter and of the whole
 * pipeline. Needs the schema files in ../shared/reference beside the checkout (check `wandbSchemaAvailable()`).
 *
 *   const wb = await startFakeWandb();                  // opts: features, schema:'legacy', orgs, viewer, teams, now (clock)
 *   const a = wb.seedArtifact({ entity: 'acme-team', project: 'ft', collection: 'llama ft', type: 'model',
 *     files: { 'adapter_config.json': '{}', 'adapter_model.safetensors': Buffer.alloc(16) },
 *     metadata: { epoch: 2 }, aliases: ['best'], sourceRun: { name: 'train-1', displayName: 'llama sft' } });
 *   // a = { id, nodeId: 'wandb-artifact://_id/<id>', fullName: 'acme-team/ft/llama ft:v0', version: 'v0' }
 *   const r = wb.linkToRegistry(a, { collection: 'llama-ft' });   // -> { fullName: 'acme-org/wandb-registry-model/llama-ft:v0', ... }
 *   createWandb({ apiKey: wb.apiKey, baseURL: wb.url, ... })   // or stack env WANDB_API_KEY / WANDB_BASE_URL
 *   wb.evalRuns()  // runs with jobType mtbench-eval: config, summary, history, files, state, inputArtifacts,
 *                  // outputArtifacts (run_table artifacts), notes, logs, heartbeats
 *   wb.artifact(a.id).metadata / .tags; wb.aliasesOf(r.fullName)
 *   wb.fail({ status: 503, times: 3, match: 'graphql', retryAfter: 2 }); wb.deny('AddAliases'); wb.down(); wb.up(); wb.requests; await wb.close()
 *   wb.outage({ ms: 30_000, retryAfter: 2 })   // every GraphQL and file_stream request: 503 until the fake's clock passes
 *   wb.editRun(run.name, { tags, displayName, notes })   // what a person does in the UI
 *   run.timeline  // each file_stream post: history offset/rows, summary, log lines, uploaded, heartbeat, complete, status
 *   wb.errors     // what a real server would log as wrong, e.g. a post after `complete` (resurrection)
 *
 * Defaults: org `acme` with org entity `acme-org`, team entity `acme-team` in it, viewer `evalhook-bot`
 * whose default entity is `acme-team`; all features of ALL_FEATURES enabled.
 *
 * Like W&B it: checks Basic auth `api:<apiKey>` on /graphql and file_stream; rejects presigned
 * storage requests that carry an Authorization header; validates every document against the schema
 * (400 with GraphQL errors), accepts only operations the protocol reference lists, rejects undeclared
 * variables; answers GraphQL errors with HTTP 200 for failures inside resolvers; on commitArtifact
 * checks uploaded files, manifest and digest.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execute, parse, validate, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { buildRoot, KNOWN_OPERATIONS, loadWandbSchema } from './wandb-graphql.js';
import {
  FakeWandbState,
  type FakeArtifact,
  type FakeOrg,
  type FakeRun,
  type Seeded,
  type SeedArtifactInput,
  type LinkOptions,
} from './wandb-state.js';
import { handleFileStream } from './wandb-filestream.js';

export { wandbSchemaAvailable, WANDB_SCHEMA_DIR } from './wandb-graphql.js';
export type {
  FakeArtifact,
  FakeRun,
  FakeCollection,
  FileStreamEvent,
  Seeded,
  SeedArtifactInput,
  LinkOptions,
} from './wandb-state.js';

export const ALL_FEATURES = [
  'USE_ARTIFACT_WITH_ENTITY_AND_PROJECT_INFORMATION',
  'ARTIFACT_MEMBERSHIP_IN_LINK_ARTIFACT_RESPONSE',
  'MARK_RUN_FILES_UPLOADED',
  'CLIENT_IDS',
  'ARTIFACT_V2_DOWNLOAD_HANDLER_SUPPORTS_ARTIFACT_ID',
  'PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP',
  'ARTIFACT_COLLECTION_MEMBERSHIP_FILES',
];

export interface FakeWandbOptions {
  apiKey?: string;
  /** Enabled server features (default ALL_FEATURES). Ignored with schema 'legacy' (no features field). */
  features?: string[];
  /** 'legacy' = the schema dump only, like a self-managed server older than v0.70. */
  schema?: 'current' | 'legacy';
  orgs?: FakeOrg[];
  viewer?: { username: string; entity: string };
  teams?: Record<string, string | undefined>;
  /** The fake's clock (ms), shared with a client's injected clock so outages last in virtual time. */
  now?: () => number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  status: number;
  operationName?: string;
  variables?: Record<string, unknown>;
  /** Whether an Authorization header was present at all. */
  hadAuth: boolean;
  /** ms on the fake's clock. */
  at: number;
}

export interface FaultRule {
  status: number;
  times: number;
  match?: 'graphql' | 'file_stream' | 'storage' | RegExp;
  /** Only GraphQL requests of this operation. */
  operation?: string;
  /** Retry-After header (seconds) on the fault's answer. */
  retryAfter?: number;
}

export interface Outage {
  /** How long, on the fake's clock, every GraphQL and file_stream request answers 503. */
  ms: number;
  /** Retry-After (seconds) sent with each 503. */
  retryAfter?: number;
  /** Start at the first request this matches (it is answered 503 too) instead of now. */
  when?: (req: RecordedRequest) => boolean;
}

export interface FakeWandb {
  url: string;
  apiKey: string;
  state: FakeWandbState;
  requests: RecordedRequest[];
  seedArtifact(input: SeedArtifactInput): Seeded;
  linkToRegistry(artifact: Seeded | string, opts: LinkOptions): Seeded;
  artifact(id: string): FakeArtifact;
  /** Aliases of a version by full name (`entity/project/collection:vN`). */
  aliasesOf(fullName: string): string[];
  evalRuns(): FakeRun[];
  fail(rule: FaultRule): void;
  /** From now (or the first request `when` matches) for `ms` on the fake's clock: all GraphQL and file_stream requests answer 503 (+ Retry-After). */
  outage(o: Outage): { started: Promise<{ start: number; end: number }> };
  /** A person's edit in the W&B UI of a run (by run id). */
  editRun(run: string, edit: { tags?: string[]; displayName?: string; notes?: string }): void;
  /** Errors a real server would log (e.g. a post after `complete`); tests assert it stays empty. */
  errors: string[];
  now(): number;
  /** Answer this operation with a GraphQL error in a 200, as W&B does for permission problems. */
  deny(operation: string, message?: string): void;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

function safeParse(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The operation name of a GraphQL body, for matching before the request is executed. */
function operationOf(body: Buffer): string | undefined {
  const p = safeParse(body) as { operationName?: unknown; query?: unknown } | undefined;
  if (typeof p?.operationName === 'string') return p.operationName;
  return typeof p?.query === 'string' ? /(?:query|mutation)\s+(\w+)/.exec(p.query)?.[1] : undefined;
}

export async function startFakeWandb(opts: FakeWandbOptions = {}): Promise<FakeWandb> {
  const apiKey = opts.apiKey ?? 'fake-wandb-key-0123456789abcdef0123456789abcdef';
  const expectedAuth = 'Basic ' + Buffer.from(`api:${apiKey}`).toString('base64');
  const schemaKind = opts.schema ?? 'current';
  const schema = loadWandbSchema(schemaKind);
  const state = new FakeWandbState({ orgs: opts.orgs, viewer: opts.viewer, teams: opts.teams });
  const requests: RecordedRequest[] = [];
  const faults: FaultRule[] = [];
  const denials = new Map<string, string>();
  const uploads = new Map<string, (body: Buffer) => void>();
  const errors: string[] = [];
  const now = opts.now ?? Date.now;
  let outage: { end: number; retryAfter?: number } | undefined;
  let armed: { o: Outage; begin: (w: { start: number; end: number }) => void } | undefined;
  let isDown = false;
  let url = '';

  const root = buildRoot({
    state,
    features: schemaKind === 'legacy' ? [] : (opts.features ?? ALL_FEATURES),
    url: () => url,
    uploadUrl(onPut) {
      const token = state.nextId('upload').replace(/=/g, '');
      uploads.set(token, onPut);
      return `${url}/storage/upload/${token}?X-Signature=fake`;
    },
  });

  const server = createServer((req, res) => {
    if (isDown) return void req.socket.destroy();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: RecordedRequest = {
        method: req.method ?? '',
        path: (req.url ?? '').split('?')[0]!,
        status: 0,
        hadAuth: req.headers.authorization !== undefined,
        at: now(),
      };
      requests.push(rec);
      const send = (status: number, body: unknown, type = 'application/json', retryAfter?: number) => {
        rec.status = status;
        res.writeHead(status, {
          'content-type': type,
          ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
        });
        res.end(Buffer.isBuffer(body) ? body : typeof body === 'string' ? body : JSON.stringify(body));
      };
      try {
        route(req, Buffer.concat(chunks), rec, send);
      } catch (err) {
        send(500, { errors: [{ message: err instanceof Error ? err.message : String(err) }] });
      }
    });
  });

  function injected(kind: 'graphql' | 'file_stream' | 'storage', path: string, op?: string): FaultRule | undefined {
    const rule = faults.find(
      (f) =>
        f.times > 0 &&
        (!f.match || (f.match instanceof RegExp ? f.match.test(path) : f.match === kind)) &&
        (!f.operation || f.operation === op),
    );
    if (rule) rule.times -= 1;
    return rule;
  }

  function route(
    req: IncomingMessage,
    body: Buffer,
    rec: RecordedRequest,
    send: (s: number, b: unknown, t?: string, retryAfter?: number) => void,
  ) {
    const path = rec.path;
    if (path.startsWith('/storage/')) {
      if (rec.hadAuth)
        return send(
          400,
          '<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>',
          'application/xml',
        );
      const fault = injected('storage', path);
      if (fault) return send(fault.status, 'injected fault', 'text/plain', fault.retryAfter);
      return storage(req, path, body, send);
    }
    if (req.headers.authorization !== expectedAuth)
      return send(401, { errors: [{ message: 'unauthorized: bad or missing API key' }] });
    const fs = /^\/files\/([^/]+)\/([^/]+)\/([^/]+)\/file_stream$/.exec(path);
    if (path === '/graphql') rec.operationName = operationOf(body);
    if (armed && (path === '/graphql' || fs) && armed.o.when?.(rec)) startOutage(armed, rec.at);
    if (outage && rec.at < outage.end && (path === '/graphql' || fs)) {
      // Recorded like any post, so a test can see which rows met the outage.
      if (fs) recordRefused(fs, body, rec.at);
      return send(503, { error: 'service unavailable (outage)' }, 'application/json', outage.retryAfter);
    }
    if (path === '/graphql' && req.method === 'POST') return graphqlRequest(body, rec, send);
    if (fs && req.method === 'POST') {
      const fault = injected('file_stream', path);
      if (fault) return send(fault.status, { error: 'injected fault' }, 'application/json', fault.retryAfter);
      const [, e, p, r] = fs.map((s) => decodeURIComponent(s));
      const run = state.run(e!, p!, r!);
      if (!run) return send(404, { error: `run ${e}/${p}/${r} not found` });
      const out = handleFileStream(run, body, rec.at, (m) => errors.push(m));
      return send(out.status, out.body);
    }
    send(404, { error: `no route ${req.method} ${path}` });
  }

  function startOutage(a: NonNullable<typeof armed>, at: number) {
    armed = undefined;
    outage = { end: at + a.o.ms, retryAfter: a.o.retryAfter };
    a.begin({ start: at, end: outage.end });
  }

  function recordRefused(fs: RegExpExecArray, body: Buffer, at: number) {
    const [, e, p, r] = fs.map((x) => decodeURIComponent(x));
    const run = state.run(e!, p!, r!);
    if (!run) return;
    const parsed = safeParse(body) as
      { files?: Record<string, { offset?: number; content?: string[] }>; complete?: boolean } | undefined;
    const h = parsed?.files?.['wandb-history.jsonl'];
    run.timeline.push({
      status: 503,
      at,
      heartbeat: parsed !== undefined && Object.keys(parsed).length === 0,
      error: 'outage',
      ...(h?.content
        ? { history: { offset: h.offset ?? -1, rows: h.content.map((l) => JSON.parse(l) as Record<string, unknown>) } }
        : {}),
      ...(parsed?.complete ? { complete: true } : {}),
    });
  }

  function graphqlRequest(
    body: Buffer,
    rec: RecordedRequest,
    send: (s: number, b: unknown, t?: string, retryAfter?: number) => void,
  ) {
    let payload: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      payload = JSON.parse(body.toString('utf8')) as typeof payload;
    } catch {
      return send(400, { errors: [{ message: 'body is not JSON' }] });
    }
    if (typeof payload.query !== 'string') return send(400, { errors: [{ message: 'missing query' }] });
    let doc: DocumentNode;
    try {
      doc = parse(payload.query);
    } catch (err) {
      return send(400, { errors: [{ message: (err as Error).message }] });
    }
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
    const op = ops.length === 1 ? ops[0] : ops.find((o) => o.name?.value === payload.operationName);
    rec.operationName = op?.name?.value;
    const variables = (payload.variables ?? {}) as Record<string, unknown>;
    rec.variables = variables;
    const fault = injected('graphql', '/graphql', rec.operationName);
    if (fault)
      return send(
        fault.status,
        { errors: [{ message: `injected ${fault.status}` }] },
        'application/json',
        fault.retryAfter,
      );
    const denied = rec.operationName ? denials.get(rec.operationName) : undefined;
    if (denied) return send(200, { data: null, errors: [{ message: denied }] });
    const errors = validate(schema, doc);
    if (errors.length) return send(400, { errors: errors.map((e) => ({ message: e.message })) });
    if (!op?.name || !KNOWN_OPERATIONS[op.name.value])
      return send(400, { errors: [{ message: `unknown operation ${op?.name?.value ?? '(anonymous)'}` }] });
    const allowed = KNOWN_OPERATIONS[op.name.value]!;
    for (const sel of op.selectionSet.selections) {
      if (sel.kind !== 'Field' || !allowed.includes(sel.name.value))
        return send(400, {
          errors: [
            {
              message: `operation ${op.name.value} may not select ${sel.kind === 'Field' ? sel.name.value : sel.kind}`,
            },
          ],
        });
    }
    const declared = new Set(op.variableDefinitions?.map((v) => v.variable.name.value));
    const extra = Object.keys(variables).filter((k) => !declared.has(k));
    if (extra.length) return send(400, { errors: [{ message: `undeclared variables: ${extra.join(', ')}` }] });
    const result = execute({
      schema,
      document: doc,
      rootValue: root,
      variableValues: variables,
      operationName: op.name.value,
    });
    if (result instanceof Promise) throw new Error('resolvers must be synchronous');
    if (result.errors && !result.data) return send(400, { errors: result.errors.map((e) => ({ message: e.message })) });
    send(200, {
      data: result.data,
      ...(result.errors ? { errors: result.errors.map((e) => ({ message: e.message, path: e.path })) } : {}),
    });
  }

  function storage(
    req: IncomingMessage,
    path: string,
    body: Buffer,
    send: (s: number, b: unknown, t?: string) => void,
  ) {
    const man = /^\/storage\/manifest\/([^/]+)$/.exec(path);
    if (man && req.method === 'GET') {
      const a = state.artifacts.get(decodeURIComponent(man[1]!));
      return a ? send(200, a.manifest) : send(404, 'NoSuchKey', 'text/plain');
    }
    const file = /^\/storage\/files\/([^/]+)\/([^/]+)$/.exec(path);
    if (file && req.method === 'GET') {
      const bytes = state.artifacts.get(decodeURIComponent(file[1]!))?.files.get(decodeURIComponent(file[2]!));
      return bytes ? send(200, bytes, 'application/octet-stream') : send(404, 'NoSuchKey', 'text/plain');
    }
    const up = /^\/storage\/upload\/([^/]+)$/.exec(path);
    if (up && req.method === 'PUT') {
      const onPut = uploads.get(up[1]!);
      if (!onPut) return send(403, 'SignatureDoesNotMatch', 'text/plain');
      if (req.headers['x-fake-blob-type'] !== 'BlockBlob')
        return send(400, 'missing upload header x-fake-blob-type', 'text/plain');
      onPut(body);
      return send(200, '');
    }
    send(404, 'NoSuchKey', 'text/plain');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    apiKey,
    state,
    requests,
    seedArtifact: (input) => state.seedArtifact(input),
    linkToRegistry: (artifact, o) => state.linkToRegistry(artifact, o),
    artifact(id) {
      const a = state.artifacts.get(id);
      if (!a) throw new Error(`no artifact ${id}`);
      return a;
    },
    aliasesOf(fullName) {
      const m = /^([^/]+)\/([^/]+)\/([^:]+):(.+)$/.exec(fullName);
      const c = m && state.collection(m[1]!, m[2]!, m[3]!);
      const mem = c && state.membership(c, m[4]!);
      return mem ? [...mem.aliases].sort() : [];
    },
    evalRuns: () => state.runsOf('mtbench-eval'),
    fail(rule) {
      faults.push({ ...rule });
    },
    outage(o) {
      let begin!: (w: { start: number; end: number }) => void;
      const started = new Promise<{ start: number; end: number }>((r) => (begin = r));
      armed = { o, begin };
      if (!o.when) startOutage(armed, now());
      return { started };
    },
    editRun(name, edit) {
      const run = state.runs.find((r) => r.name === name);
      if (!run) throw new Error(`no run ${name}`);
      if (edit.tags) run.tags = [...edit.tags];
      if (edit.displayName !== undefined) run.displayName = edit.displayName;
      if (edit.notes !== undefined) run.notes = edit.notes;
    },
    errors,
    now,
    deny(operation, message = 'permission denied') {
      denials.set(operation, message);
    },
    down() {
      isDown = true;
      server.closeAllConnections();
    },
    up() {
      isDown = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
