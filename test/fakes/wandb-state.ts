/**
 * The fake W&B server's state: entities/orgs, collections (source sequences and registry portfolios)
 * with memberships and aliases, artifacts with metadata/tags/manifest/files, runs with
 * config/summary/history/files/state and lineage. Tests read it directly to assert effects.
 */
import { createHash } from 'node:crypto';
import { FakeViews } from './wandb-views.js';

export interface FakeArtifact {
  /** GraphQL node id (base64 "Artifact:<n>"), as in `wandb-artifact://_id/<id>`. */
  id: string;
  entity: string;
  project: string;
  /** Source collection (artifact sequence) name. */
  collection: string;
  type: string;
  versionIndex: number;
  digest: string;
  metadata: Record<string, unknown>;
  description: string | null;
  tags: string[];
  /** Bytes served for each path; tests may change them to simulate corruption. */
  files: Map<string, Buffer>;
  manifest: {
    version: 1;
    storagePolicy: string;
    storagePolicyConfig: Record<string, unknown>;
    contents: Record<string, { digest: string; size: number; birthArtifactID: string }>;
  };
  createdBy?: { entity: string; project: string; name: string };
  createdAt: string;
  /** PENDING while a client is still saving it (B5), COMMITTED after commitArtifact. */
  state: 'PENDING' | 'COMMITTED';
  /** B5 bookkeeping while PENDING: registered manifest digest and uploaded manifest bytes, aliases for commit. */
  saving?: { manifestDigest?: string; manifest?: Buffer; aliases: string[] };
}

export interface FakeMembership {
  id: string;
  artifactId: string;
  versionIndex: number;
  aliases: Set<string>;
}

export interface FakeCollection {
  id: string;
  entity: string;
  project: string;
  name: string;
  kind: 'ArtifactSequence' | 'ArtifactPortfolio';
  type: string;
  memberships: FakeMembership[];
}

export interface FakeRun {
  /** Storage id (bucket.id) used for updates by id. */
  id: string;
  entity: string;
  project: string;
  /** The run id. */
  name: string;
  displayName: string | null;
  jobType: string | null;
  group: string | null;
  tags: string[];
  notes: string | null;
  /** Config values, unwrapped from the `{key: {value}}` wire form. */
  config: Record<string, unknown>;
  summary: Record<string, unknown>;
  history: Array<Record<string, unknown>>;
  /** Run files: content once PUT to the presigned URL; uploaded once the client said so. */
  files: Map<string, { content?: Buffer; uploaded: boolean }>;
  state: 'running' | 'finished' | 'failed';
  exitcode: number | null;
  logs: string[];
  heartbeats: number;
  /** Every file_stream post in arrival order, accepted or not. */
  timeline: FileStreamEvent[];
  /** The run was ended by file_stream `complete` (cleared only by an explicit resume: UpsertBucket state "running"). */
  completed: boolean;
  /** use_artifact edges. */
  inputArtifacts: Array<{ artifactId: string; artifactEntityName?: string; artifactProjectName?: string }>;
  outputArtifacts: string[];
}

/** One file_stream post as the fake saw it. */
export interface FileStreamEvent {
  status: number;
  /** ms on the fake's clock. */
  at: number;
  heartbeat: boolean;
  history?: { offset: number; rows: Array<Record<string, unknown>> };
  summary?: Record<string, unknown>;
  log?: { offset: number; lines: string[] };
  uploaded?: string[];
  complete?: boolean;
  exitcode?: number;
  /** Why it was refused, when it was. */
  error?: string;
}

export interface FakeOrg {
  name: string;
  /** The org entity registries live under. */
  entity: string;
}

export interface SeedArtifactInput {
  entity: string;
  project: string;
  collection: string;
  type?: string;
  files: Record<string, Buffer | string>;
  metadata?: Record<string, unknown>;
  aliases?: string[];
  /** The training run that logged it (lineage): created in entity/project unless given; `config` as the run logged it. */
  sourceRun?: {
    name: string;
    displayName?: string;
    entity?: string;
    project?: string;
    config?: Record<string, unknown>;
  };
}

export interface Seeded {
  id: string;
  /** As a webhook sends it: `wandb-artifact://_id/<id>`. */
  nodeId: string;
  fullName: string;
  version: string;
}

export interface LinkOptions {
  collection: string;
  /** Registry name without the prefix (default 'model' -> project wandb-registry-model). */
  registry?: string;
  aliases?: string[];
  /** Default: the first org's entity. */
  entity?: string;
  /** Overrides the project, e.g. 'model-registry' for the legacy Model Registry. */
  project?: string;
}

export class FakeWandbState {
  viewer: { username: string; entity: string };
  orgs: FakeOrg[];
  /** Team entities and the org each belongs to. */
  teams = new Map<string, string | undefined>();
  collections: FakeCollection[] = [];
  artifacts = new Map<string, FakeArtifact>();
  runs: FakeRun[] = [];
  /** Saved workspace views, reports and custom chart presets (wandb-views.ts). */
  views = new FakeViews();
  private seq = 0;

  constructor(
    opts: {
      viewer?: { username: string; entity: string };
      orgs?: FakeOrg[];
      teams?: Record<string, string | undefined>;
    } = {},
  ) {
    this.orgs = opts.orgs ?? [{ name: 'acme', entity: 'acme-org' }];
    this.viewer = opts.viewer ?? { username: 'evalhook-bot', entity: 'acme-team' };
    for (const [t, org] of Object.entries(opts.teams ?? { 'acme-team': this.orgs[0]?.name })) this.teams.set(t, org);
  }

  /** A committed artifact version in its source collection, with manifest, digest and optional creating run. */
  seedArtifact(input: SeedArtifactInput): Seeded {
    const type = input.type ?? 'model';
    const c = this.ensureCollection(input.entity, input.project, input.collection, 'ArtifactSequence', type);
    const id = this.nextId('Artifact');
    const files = new Map(Object.entries(input.files).map(([p, v]) => [p, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
    const contents = Object.fromEntries(
      [...files].map(([p, b]) => [p, { digest: md5b64(b), size: b.length, birthArtifactID: id }]),
    );
    let createdBy: FakeArtifact['createdBy'];
    if (input.sourceRun) {
      const e = input.sourceRun.entity ?? input.entity;
      const p = input.sourceRun.project ?? input.project;
      const run = this.run(e, p, input.sourceRun.name) ?? this.newRun(e, p, input.sourceRun.name);
      run.displayName = input.sourceRun.displayName ?? run.displayName;
      if (input.sourceRun.config) run.config = { ...run.config, ...input.sourceRun.config };
      run.jobType ??= 'train';
      run.state = 'finished';
      run.outputArtifacts.push(id);
      createdBy = { entity: e, project: p, name: run.name };
    }
    this.artifacts.set(id, {
      id,
      entity: input.entity,
      project: input.project,
      collection: input.collection,
      type,
      versionIndex: c.memberships.length,
      digest: manifestDigest(contents),
      metadata: input.metadata ?? {},
      description: null,
      tags: [],
      files,
      manifest: {
        version: 1,
        storagePolicy: 'wandb-storage-policy-v1',
        storagePolicyConfig: { storageLayout: 'V2' },
        contents,
      },
      createdBy,
      createdAt: new Date().toISOString(),
      state: 'COMMITTED',
    });
    const m = this.addMembership(c, id, input.aliases ?? []);
    return {
      id,
      nodeId: `wandb-artifact://_id/${id}`,
      fullName: `${c.entity}/${c.project}/${c.name}:v${m.versionIndex}`,
      version: `v${m.versionIndex}`,
    };
  }

  /** Links a version into a registry collection under the org entity (its own vN there), like linkArtifact. */
  linkToRegistry(artifact: Seeded | string, o: LinkOptions): Seeded {
    const id = typeof artifact === 'string' ? artifact : artifact.id;
    const a = this.artifacts.get(id);
    if (!a) throw new Error(`no artifact ${id}`);
    const entity = o.entity ?? this.orgs[0]?.entity;
    if (!entity) throw new Error('no org entity to link into');
    const c = this.ensureCollection(
      entity,
      o.project ?? `wandb-registry-${o.registry ?? 'model'}`,
      o.collection,
      'ArtifactPortfolio',
      a.type,
    );
    const m = this.addMembership(c, id, o.aliases ?? []);
    return {
      id,
      nodeId: `wandb-artifact://_id/${id}`,
      fullName: `${c.entity}/${c.project}/${c.name}:v${m.versionIndex}`,
      version: `v${m.versionIndex}`,
    };
  }

  nextId(kind: string): string {
    return Buffer.from(`${kind}:${++this.seq}`).toString('base64');
  }

  collection(entity: string, project: string, name: string): FakeCollection | undefined {
    return this.collections.find((c) => c.entity === entity && c.project === project && c.name === name);
  }

  ensureCollection(
    entity: string,
    project: string,
    name: string,
    kind: FakeCollection['kind'],
    type: string,
  ): FakeCollection {
    let c = this.collection(entity, project, name);
    if (!c) {
      c = { id: this.nextId(kind), entity, project, name, kind, type, memberships: [] };
      this.collections.push(c);
    }
    return c;
  }

  /** `vN`, `latest` or any alias within one collection. */
  membership(c: FakeCollection, aliasOrVersion: string): FakeMembership | undefined {
    const v = /^v(\d+)$/.exec(aliasOrVersion);
    if (v) return c.memberships.find((m) => m.versionIndex === Number(v[1]));
    return c.memberships.find((m) => m.aliases.has(aliasOrVersion));
  }

  /** Adds an artifact to a collection as its newest version; aliases are unique per collection; `latest` moves. */
  addMembership(c: FakeCollection, artifactId: string, aliases: string[]): FakeMembership {
    const existing = c.memberships.find((m) => m.artifactId === artifactId);
    const m = existing ?? {
      id: this.nextId('ArtifactCollectionMembership'),
      artifactId,
      versionIndex: c.memberships.length,
      aliases: new Set<string>(),
    };
    if (!existing) c.memberships.push(m);
    for (const alias of [...aliases, 'latest']) this.setAlias(c, m, alias);
    return m;
  }

  setAlias(c: FakeCollection, m: FakeMembership, alias: string): void {
    for (const other of c.memberships) other.aliases.delete(alias);
    m.aliases.add(alias);
  }

  run(entity: string, project: string, name: string): FakeRun | undefined {
    return this.runs.find((r) => r.entity === entity && r.project === project && r.name === name);
  }

  newRun(entity: string, project: string, name: string): FakeRun {
    const r: FakeRun = {
      id: this.nextId('Run'),
      entity,
      project,
      name,
      displayName: null,
      jobType: null,
      group: null,
      tags: [],
      notes: null,
      config: {},
      summary: {},
      history: [],
      files: new Map(),
      state: 'running',
      exitcode: null,
      logs: [],
      heartbeats: 0,
      timeline: [],
      completed: false,
      inputArtifacts: [],
      outputArtifacts: [],
    };
    this.runs.push(r);
    return r;
  }

  /** Runs of a project with a given job type, e.g. the evaluation runs (`mtbench-eval`). */
  runsOf(jobType: string): FakeRun[] {
    return this.runs.filter((r) => r.jobType === jobType);
  }
}

export const md5b64 = (b: Buffer) => createHash('md5').update(b).digest('base64');

/** B4: hex md5 of the manifest entries, as W&B computes `artifact.digest`. */
export function manifestDigest(contents: Record<string, { digest: string }>): string {
  const h = createHash('md5').update('wandb-artifact-manifest-v1\n');
  for (const p of Object.keys(contents).sort()) h.update(`${p}:${contents[p]!.digest}\n`);
  return h.digest('hex');
}
