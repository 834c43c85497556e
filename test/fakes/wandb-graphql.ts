/**
 * The fake's GraphQL side: the shared schema (dump + extensions, or the dump alone to act as an old
 * server) and resolvers over FakeWandbState. Only the operations the protocol reference lists are
 * accepted; everything is validated and executed by graphql-js exactly as a W&B server would.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSchema, extendSchema, parse, type GraphQLSchema } from 'graphql';
import { runResolvers } from './wandb-runs.js';
import { savingResolvers } from './wandb-saving.js';
import { projectViews, VIEW_OPERATIONS, viewResolvers } from './wandb-views.js';
import type { FakeArtifact, FakeCollection, FakeMembership, FakeRun, FakeWandbState } from './wandb-state.js';

/** ../shared/reference beside the checkout (CI lays it there too); overridable for other layouts. */
export const WANDB_SCHEMA_DIR =
  process.env.EVALHOOK_WANDB_SCHEMA_DIR ?? resolve(import.meta.dirname, '../../../shared/reference');
const DUMP = join(WANDB_SCHEMA_DIR, 'wandb-schema.graphql');
const EXTENSIONS = join(WANDB_SCHEMA_DIR, 'wandb-schema-extensions.graphql');

export function wandbSchemaAvailable(): boolean {
  return existsSync(DUMP) && existsSync(EXTENSIONS);
}

const cache = new Map<string, GraphQLSchema>();
/** `current` = dump + extensions (a server >= v0.70); `legacy` = the dump alone (an old self-managed server). */
export function loadWandbSchema(kind: 'current' | 'legacy' = 'current'): GraphQLSchema {
  let s = cache.get(kind);
  if (!s) {
    s = buildSchema(readFileSync(DUMP, 'utf8'));
    if (kind === 'current') s = extendSchema(s, parse(readFileSync(EXTENSIONS, 'utf8')));
    cache.set(kind, s);
  }
  return s;
}

/** Operation names from wandb-protocol.md (B0–B7, D) and the root fields each may touch. */
export const KNOWN_OPERATIONS: Record<string, string[]> = {
  ServerFeaturesQuery: ['serverInfo'],
  Viewer: ['viewer'],
  FetchOrgInfoFromEntity: ['entity'],
  FetchOrganization: ['organization'],
  ArtifactMembershipByName: ['project'],
  ArtifactByName: ['project'],
  ArtifactByID: ['artifact'],
  ArtifactManifest: ['artifact'],
  GetArtifactMembershipFileUrls: ['project'],
  ArtifactFileURLs: ['artifact'],
  RunConfig: ['project'],
  RunResumeStatus: ['model'],
  UpsertBucket: ['upsertBucket'],
  UseArtifact: ['useArtifact'],
  CreateRunFiles: ['createRunFiles'],
  MarkRunFilesUploaded: ['markRunFilesUploaded'],
  AddAliases: ['addAliases'],
  DeleteAliases: ['deleteAliases'],
  UpdateArtifact: ['updateArtifact'],
  CreateArtifact: ['createArtifact'],
  CreateArtifactManifest: ['createArtifactManifest'],
  CreateArtifactFiles: ['createArtifactFiles'],
  CommitArtifact: ['commitArtifact'],
  LinkArtifact: ['linkArtifact'],
  ...VIEW_OPERATIONS,
};

export interface ResolverEnv {
  state: FakeWandbState;
  features: string[];
  /** Base URL of the fake, for presigned URLs. */
  url(): string;
  /** Issues a presigned upload URL; the PUT body goes to `onPut`. */
  uploadUrl(onPut: (body: Buffer) => void): string;
}

export type Args = Record<string, unknown>;
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function jsonString(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'string') throw new Error(`${what} must be a JSON-encoded string`);
  const parsed: unknown = JSON.parse(v);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`${what} must encode an object`);
  return parsed as Record<string, unknown>;
}

function page<T>(items: T[], args: Args, toNode: (t: T) => object) {
  const start = typeof args.after === 'string' ? Number(args.after) : 0;
  const first = typeof args.first === 'number' ? args.first : items.length;
  const slice = items.slice(start, start + first);
  const end = start + slice.length;
  return {
    edges: slice.map((t, i) => ({ cursor: String(start + i + 1), node: toNode(t) })),
    pageInfo: {
      endCursor: slice.length ? String(end) : null,
      hasNextPage: end < items.length,
      hasPreviousPage: start > 0,
      startCursor: String(start),
    },
    totalCount: items.length,
    uploadHeaders: [],
  };
}

export function buildRoot(env: ResolverEnv): Record<string, unknown> {
  const { state } = env;

  const entityObj = (name: string) => ({ id: Buffer.from(`Entity:${name}`).toString('base64'), name });

  const fileObj = (a: FakeArtifact, path: string) => ({
    id: Buffer.from(`File:${a.id}:${path}`).toString('base64'),
    name: path,
    directUrl: `${env.url()}/storage/files/${encodeURIComponent(a.id)}/${encodeURIComponent(path)}?X-Signature=fake`,
    sizeBytes: a.files.get(path)?.length ?? 0,
    md5: a.manifest.contents[path]?.digest ?? null,
  });

  const artifactObj = (a: FakeArtifact): object => {
    const paths = Object.keys(a.manifest.contents);
    const creator = a.createdBy ? state.run(a.createdBy.entity, a.createdBy.project, a.createdBy.name) : undefined;
    return {
      id: a.id,
      digest: a.digest,
      state: a.state,
      size: [...a.files.values()].reduce((n, b) => n + b.length, 0),
      fileCount: paths.length,
      versionIndex: a.versionIndex,
      description: a.description,
      metadata: JSON.stringify(a.metadata),
      createdAt: a.createdAt,
      artifactType: { id: a.type, name: a.type },
      artifactSequence: () => collectionObj(state.collection(a.entity, a.project, a.collection)!),
      aliases: (args: Args) =>
        state.collections.flatMap((c) =>
          c.memberships
            .filter(
              (m) => m.artifactId === a.id && (!args.artifactCollectionName || args.artifactCollectionName === c.name),
            )
            .flatMap((m) =>
              [...m.aliases].map((alias) => ({ id: `${m.id}:${alias}`, alias, artifactCollectionName: c.name })),
            ),
        ),
      tags: a.tags.map((t) => ({ id: t, name: t, tagCategoryName: 'default', attributes: '{}' })),
      currentManifest: {
        id: `${a.id}-manifest`,
        digest: a.digest,
        file: { directUrl: `${env.url()}/storage/manifest/${encodeURIComponent(a.id)}?X-Signature=fake` },
      },
      createdBy: creator ? { __typename: 'Run', ...runObj(creator) } : null,
      files: (args: Args) => page(paths, args, (p) => fileObj(a, p)),
    };
  };

  const membershipObj = (c: FakeCollection, m: FakeMembership): object => {
    const a = state.artifacts.get(m.artifactId)!;
    return {
      id: m.id,
      versionIndex: m.versionIndex,
      createdAt: a.createdAt,
      aliases: [...m.aliases].map((alias) => ({ id: `${m.id}:${alias}`, alias, artifactCollectionName: c.name })),
      artifactCollection: () => collectionObj(c),
      artifact: () => artifactObj(a),
      files: (args: Args) => page(Object.keys(a.manifest.contents), args, (p) => fileObj(a, p)),
    };
  };

  const collectionObj = (c: FakeCollection): object => ({
    __typename: c.kind,
    id: c.id,
    name: c.name,
    project: () => projectObj(c.entity, c.project),
    artifactMembership: (args: Args) => {
      const m = state.membership(c, String(args.aliasName));
      return m ? membershipObj(c, m) : null;
    },
    latestArtifact: () => {
      const m = state.membership(c, 'latest');
      return m ? artifactObj(state.artifacts.get(m.artifactId)!) : null;
    },
  });

  const projectObj = (entity: string, name: string): object => ({
    id: Buffer.from(`Project:${entity}/${name}`).toString('base64'),
    name,
    entityName: entity,
    entity: entityObj(entity),
    allViews: projectViews(env, entity, name),
    artifactCollection: (args: Args) => {
      const c = state.collection(entity, name, String(args.name));
      return c ? collectionObj(c) : null;
    },
    artifactCollectionMembership: (args: Args) => {
      const [coll, alias] = splitName(String(args.name));
      const c = state.collection(entity, name, coll);
      const m = c && state.membership(c, alias);
      return c && m ? membershipObj(c, m) : null;
    },
    artifact: (args: Args) => {
      const [coll, alias] = splitName(String(args.name));
      const c = state.collection(entity, name, coll);
      const m = c && state.membership(c, alias);
      return m ? artifactObj(state.artifacts.get(m.artifactId)!) : null;
    },
    run: (args: Args) => {
      const r = state.run(entity, name, String(args.name));
      return r ? runObj(r) : null;
    },
    bucket: (args: Args) => {
      const r = state.run(entity, name, String(args.name));
      if (!r && !args.missingOk) throw new Error(`run ${entity}/${name}/${String(args.name)} not found`);
      return r ? runObj(r) : null;
    },
  });

  const runObj = (r: FakeRun): object => ({
    id: r.id,
    name: r.name,
    displayName: r.displayName,
    description: r.notes,
    notes: r.notes,
    state: r.state,
    group: r.group,
    jobType: r.jobType,
    tags: r.tags,
    sweepName: null,
    config: JSON.stringify(Object.fromEntries(Object.entries(r.config).map(([k, v]) => [k, { value: v }]))),
    summaryMetrics: JSON.stringify(r.summary),
    historyLineCount: r.history.length,
    logLineCount: r.logs.length,
    eventsLineCount: 0,
    historyTail: JSON.stringify(r.history.slice(-1).map((row) => JSON.stringify(row))),
    eventsTail: '[]',
    wandbConfig: () => JSON.stringify({}),
    project: () => projectObj(r.entity, r.project),
  });

  const artifactOrThrow = (id: unknown): FakeArtifact => {
    const a = state.artifacts.get(String(id));
    if (!a) throw new Error(`artifact ${String(id)} not found`);
    return a;
  };
  const runOrThrow = (entity: unknown, project: unknown, name: unknown): FakeRun => {
    const r = state.run(String(entity), String(project), String(name));
    if (!r) throw new Error(`run ${String(entity)}/${String(project)}/${String(name)} not found`);
    return r;
  };

  const helpers = { artifactObj, artifactOrThrow, runOrThrow, runObj };

  return {
    ...runResolvers(env, helpers),
    ...savingResolvers(env, helpers),
    ...viewResolvers(env),
    // --- queries
    serverInfo: () => ({ features: env.features.map((name) => ({ name, isEnabled: true })) }),
    viewer: () => ({
      id: Buffer.from(`User:${state.viewer.username}`).toString('base64'),
      entity: state.viewer.entity,
      username: state.viewer.username,
      name: state.viewer.username,
    }),
    entity: (args: Args) => {
      const name = String(args.name);
      const orgOf = (o: string | undefined) => state.orgs.find((x) => x.name === o);
      const asOrg = (o: { name: string; entity: string }) => ({ name: o.name, orgEntity: entityObj(o.entity) });
      if (state.teams.has(name)) {
        const org = orgOf(state.teams.get(name));
        return { ...entityObj(name), organization: org ? asOrg(org) : null, user: null };
      }
      if (name === state.viewer.username)
        return { ...entityObj(name), organization: null, user: { organizations: state.orgs.map(asOrg) } };
      return null;
    },
    organization: (args: Args) => {
      const o = state.orgs.find((x) => x.name === args.name);
      return o
        ? { id: Buffer.from(`Organization:${o.name}`).toString('base64'), name: o.name, orgEntity: entityObj(o.entity) }
        : null;
    },
    project: (args: Args) => projectObj(str(args.entityName) ?? state.viewer.entity, String(args.name)),
    // The deprecated alias of `project` that wandb-core's RunResumeStatus still uses.
    model: (args: Args) => projectObj(str(args.entityName) ?? state.viewer.entity, String(args.name)),
    artifact: (args: Args) => {
      const a = state.artifacts.get(String(args.id));
      return a ? artifactObj(a) : null;
    },

    // --- mutations
    addAliases: ({ input }: { input: Args }) => {
      const a = artifactOrThrow(input.artifactID);
      for (const spec of input.aliases as Args[]) {
        const c = state.collection(
          String(spec.entityName),
          String(spec.projectName),
          String(spec.artifactCollectionName),
        );
        const m = c?.memberships.find((x) => x.artifactId === a.id);
        if (!c || !m)
          throw new Error(
            `artifact is not in ${String(spec.entityName)}/${String(spec.projectName)}/${String(spec.artifactCollectionName)}`,
          );
        state.setAlias(c, m, String(spec.alias));
      }
      return { success: true, artifact: artifactObj(a), aliases: [] };
    },
    updateArtifact: ({ input }: { input: Args }) => {
      const a = artifactOrThrow(input.artifactID);
      if (input.metadata != null) a.metadata = jsonString(input.metadata, 'metadata');
      if (input.description != null) a.description = String(input.description);
      for (const t of (input.tagsToAdd as Args[] | undefined) ?? [])
        if (!a.tags.includes(String(t.tagName))) a.tags.push(String(t.tagName));
      for (const t of (input.tagsToDelete as Args[] | undefined) ?? []) a.tags = a.tags.filter((x) => x !== t.tagName);
      return { artifact: artifactObj(a), artifactActions: [] };
    },
  };
}

/** `collection:alias` where the collection may contain spaces (and no colon). */
function splitName(name: string): [string, string] {
  const i = name.lastIndexOf(':');
  return i < 0 ? [name, 'latest'] : [name.slice(0, i), name.slice(i + 1)];
}
