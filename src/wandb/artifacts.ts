/**
 * Resolve an artifact version (B4) from the webhook's node id or a full name, registry paths under
 * the organisation's entity included, into a ResolvedArtifact with lineage and checkpoint position.
 */
import type { ArtifactRef, ArtifactFile, ResolvedArtifact } from '../ports.js';
import { withoutQuery } from '../secrets.js';
import { WandbError, type WandbClient } from './client.js';
import {
  ARTIFACT_BY_ID,
  ARTIFACT_BY_NAME_LEGACY,
  ARTIFACT_MANIFEST,
  ARTIFACT_MEMBERSHIP_BY_NAME,
  FETCH_ORG_INFO_FROM_ENTITY,
  FETCH_ORGANIZATION,
  RUN_CONFIG,
  VIEWER,
} from './documents.js';
import {
  artifactPathOrThrow,
  checkpointOf,
  isRegistryProject,
  parseNodeId,
  unsafePathReason,
  versionOrAlias,
} from './names.js';
import {
  ArtifactByIdResponse,
  jsonObject,
  LegacyArtifactResponse,
  Manifest,
  ManifestUrlResponse,
  MembershipResponse,
  OrganizationResponse,
  OrgInfoResponse,
  RunConfigResponse,
  runConfigValues,
  ViewerResponse,
  type ArtifactNode,
} from './responses.js';

/** Where a version was found: the collection view (registry or source) and the artifact itself. */
interface Located {
  node: ArtifactNode;
  entity: string;
  project: string;
  collection: string;
  versionIndex: number | null;
  aliases: string[];
}

export class ArtifactResolver {
  private readonly orgEntities = new Map<string, Promise<string>>();

  constructor(
    private readonly client: WandbClient,
    private readonly opts: { entity?: string; organization?: string } = {},
  ) {}

  async resolve(ref: ArtifactRef, signal?: AbortSignal): Promise<ResolvedArtifact> {
    if (!ref.id && !ref.name) throw new WandbError('the trigger names no artifact (neither id nor name)', false);
    let located = ref.name
      ? await this.byName(ref.name, signal).catch((err: unknown) => {
          // With an id to fall back on, a name we cannot resolve (odd path, ambiguous org) is not fatal.
          if (ref.id && err instanceof WandbError && !err.retryable) {
            this.client.log.warn({ name: ref.name, err: err.message }, 'artifact name not resolvable; using the id');
            return undefined;
          }
          throw err;
        })
      : undefined;
    let disagreement: string | undefined;
    if (ref.id) {
      const id = parseNodeId(ref.id);
      // The id is what triggered; an alias in the name may have moved on since. The worker
      // re-checks the id's version against the rule the name was routed by.
      if (!located || located.node.id !== id) {
        disagreement = located
          ? `the name ${ref.name} is ${located.entity}/${located.project}/${located.collection}:v${located.versionIndex ?? '?'} (id ${located.node.id}), the id ${id} is another version`
          : `the name ${ref.name} does not resolve, the id ${id} does`;
        if (located) this.client.log.warn({ id, name: ref.name }, 'artifact name and id disagree; using the id');
        located = await this.byId(id, signal);
      }
    }
    if (!located) throw new WandbError(`artifact ${ref.name} not found (or no access with this API key)`, false);
    const resolved = await this.toResolved(located, signal);
    if (disagreement) resolved.nameDisagreement = disagreement;
    return resolved;
  }

  /** Metadata score of the version holding `alias` in the same collection (mustBeatProduction). */
  async scoreOfAlias(artifact: ResolvedArtifact, alias: string, signal?: AbortSignal): Promise<number | undefined> {
    const found = await this.lookup(artifact.entity, artifact.project, `${artifact.collection}:${alias}`, signal);
    if (!found) return undefined;
    return scoreFromMetadata(jsonObject(found.node.metadata));
  }

  /** The config of the run that logged the artifact (torchtune: the recipe YAML), values unwrapped. */
  async trainingConfig(artifact: ResolvedArtifact, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
    const run = artifact.sourceRun;
    if (!run) return undefined;
    const r = await this.client.graphql(
      RUN_CONFIG,
      { entity: run.entity, project: run.project, run: run.name },
      RunConfigResponse,
      { signal },
    );
    const config = r.project?.run?.config;
    return config ? runConfigValues(config) : undefined;
  }

  /** Current metadata of a version, read fresh for read-modify-write (B6). */
  async metadataOf(id: string, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const r = await this.client.graphql(ARTIFACT_BY_ID, { id }, ArtifactByIdResponse, { signal });
    if (!r.artifact) throw new WandbError(`artifact ${id} not found`, false);
    return jsonObject(r.artifact.metadata);
  }

  /** B4: the manifest JSON from its presigned URL (no auth). */
  async manifest(id: string, signal?: AbortSignal): Promise<Manifest> {
    const r = await this.client.graphql(ARTIFACT_MANIFEST, { artifact_id: id }, ManifestUrlResponse, { signal });
    const url = r.artifact?.currentManifest?.file.directUrl;
    if (!url) throw new WandbError(`artifact ${id} has no manifest`, false);
    return this.fetchManifest(url, signal);
  }

  private async fetchManifest(url: string, signal?: AbortSignal): Promise<Manifest> {
    const res = await this.client.storage('GET', url, { signal });
    const parsed = Manifest.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) throw new WandbError(`manifest at ${withoutQuery(url)} is not a v1 artifact manifest`, false);
    return parsed.data;
  }

  private async byName(name: string, signal?: AbortSignal): Promise<Located | undefined> {
    const p = artifactPathOrThrow(name);
    // `org/entity/project/…` names the entity; for a registry it (or the org) leads to the org entity.
    const entity = isRegistryProject(p.project)
      ? await this.orgEntity(p.entity ?? p.org, signal)
      : (p.entity ?? (await this.defaultEntity(signal)));
    return this.lookup(entity, p.project, `${p.collection}:${versionOrAlias(p)}`, signal);
  }

  private async lookup(
    entity: string,
    project: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<Located | undefined> {
    if (await this.client.hasFeature('PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP', signal)) {
      const r = await this.client.graphql(ARTIFACT_MEMBERSHIP_BY_NAME, { entity, project, name }, MembershipResponse, {
        signal,
      });
      const m = r.project?.artifactCollectionMembership;
      if (!m?.artifact) return undefined;
      const coll = m.artifactCollection;
      return {
        node: m.artifact,
        // Canonical names: the server may redirect legacy model-registry paths.
        entity: coll?.project?.entity.name ?? entity,
        project: coll?.project?.name ?? project,
        collection: coll?.name ?? name.slice(0, name.indexOf(':')),
        versionIndex: m.versionIndex,
        aliases: m.aliases.map((a) => a.alias),
      };
    }
    const r = await this.client.graphql(ARTIFACT_BY_NAME_LEGACY, { entity, project, name }, LegacyArtifactResponse, {
      signal,
    });
    const a = r.project?.artifact;
    if (!a) return undefined;
    const collection = name.slice(0, name.lastIndexOf(':'));
    return { node: a, entity, project, collection, versionIndex: a.versionIndex, aliases: aliasesIn(a, collection) };
  }

  private async byId(id: string, signal?: AbortSignal): Promise<Located> {
    const r = await this.client.graphql(ARTIFACT_BY_ID, { id }, ArtifactByIdResponse, { signal });
    const a = r.artifact;
    if (!a) throw new WandbError(`artifact ${id} not found (or no access with this API key)`, false);
    const seq = a.artifactSequence;
    if (!seq.project) throw new WandbError(`artifact ${id} has no project`, false);
    // By id the server only knows the source collection (webhooks §2.3 caveat).
    return {
      node: a,
      entity: seq.project.entity.name,
      project: seq.project.name,
      collection: seq.name,
      versionIndex: a.versionIndex,
      aliases: aliasesIn(a, seq.name),
    };
  }

  private async toResolved(l: Located, signal?: AbortSignal): Promise<ResolvedArtifact> {
    const a = l.node;
    const metadata = jsonObject(a.metadata);
    const version = `v${l.versionIndex ?? a.versionIndex ?? 0}`;
    const manifestUrl = a.currentManifest?.file.directUrl;
    const manifest = manifestUrl ? await this.fetchManifest(manifestUrl, signal) : await this.manifest(a.id, signal);
    const files: ArtifactFile[] = Object.entries(manifest.contents).map(([path, e]) => {
      const reason = unsafePathReason(path);
      if (reason)
        throw new WandbError(
          `artifact ${l.collection}:${version} has an unsafe file path "${path}" (${reason}); refusing it`,
          false,
        );
      const f: ArtifactFile = { path, size: e.size ?? 0 };
      if (!e.ref) f.md5 = e.digest;
      return f;
    });
    const resolved: ResolvedArtifact = {
      id: a.id,
      entity: l.entity,
      project: l.project,
      collection: l.collection,
      version,
      fullName: `${l.entity}/${l.project}/${l.collection}:${version}`,
      type: a.artifactType.name,
      digest: a.digest,
      aliases: l.aliases,
      metadata,
      checkpoint: checkpointOf(metadata, [a.artifactSequence.name, l.collection]),
      checkpointNames: [a.artifactSequence.name, l.collection],
      files,
    };
    const by = a.createdBy;
    if (by?.__typename === 'Run' && by.name && by.project) {
      resolved.sourceRun = { entity: by.project.entity.name, project: by.project.name, name: by.name };
      if (by.displayName) resolved.sourceRun.displayName = by.displayName;
    }
    return resolved;
  }

  /** B4/B7: registry paths live under the org entity; the prefix may be the org or its entity. */
  private orgEntity(prefix: string | undefined, signal?: AbortSignal): Promise<string> {
    const key = prefix ?? this.opts.organization ?? '';
    let p = this.orgEntities.get(key);
    if (!p) {
      p = (key ? this.orgEntityFromName(key, signal) : this.orgEntityFromDefault(signal)).catch((err: unknown) => {
        this.orgEntities.delete(key);
        throw err;
      });
      this.orgEntities.set(key, p);
    }
    return p;
  }

  /** The prefix may be the org's name, its entity, or (as webhooks may render it) a team entity of the org. */
  private async orgEntityFromName(name: string, signal?: AbortSignal): Promise<string> {
    const notFound = (err: unknown) => {
      if (err instanceof WandbError && !err.retryable) return null;
      throw err;
    };
    const org = await this.client
      .graphql(FETCH_ORGANIZATION, { org: name }, OrganizationResponse, { signal })
      .catch(notFound);
    if (org?.organization?.orgEntity) return org.organization.orgEntity.name;
    const info = await this.client
      .graphql(FETCH_ORG_INFO_FROM_ENTITY, { entity: name }, OrgInfoResponse, { signal })
      .catch(notFound);
    // Otherwise it is taken as the org entity itself.
    return info?.entity?.organization?.orgEntity?.name ?? name;
  }

  private async orgEntityFromDefault(signal?: AbortSignal): Promise<string> {
    const entity = await this.defaultEntity(signal);
    const r = await this.client.graphql(FETCH_ORG_INFO_FROM_ENTITY, { entity }, OrgInfoResponse, { signal });
    const team = r.entity?.organization?.orgEntity?.name;
    if (team) return team;
    const orgs = (r.entity?.user?.organizations ?? []).flatMap((o) => (o.orgEntity ? [o.orgEntity.name] : []));
    if (orgs.length === 1) return orgs[0]!;
    throw new WandbError(
      orgs.length === 0
        ? `entity ${entity} belongs to no organisation: cannot resolve a registry path; prefix it with the org (org/wandb-registry-…)`
        : `entity ${entity} belongs to several organisations (${orgs.join(', ')}): prefix the registry path with one`,
      false,
    );
  }

  private async defaultEntity(signal?: AbortSignal): Promise<string> {
    if (this.opts.entity) return this.opts.entity;
    const r = await this.client.graphql(VIEWER, {}, ViewerResponse, { signal });
    const e = r.viewer?.entity ?? r.viewer?.username;
    if (!e) throw new WandbError('the API key has no default entity; name the entity in the artifact path', false);
    return e;
  }
}

function aliasesIn(a: ArtifactNode, collection: string): string[] {
  return a.aliases.filter((x) => x.artifactCollectionName === collection).map((x) => x.alias);
}

/** Where write-back puts the score (B6 / D10: metadata.mtbench.score). */
export function scoreFromMetadata(meta: Record<string, unknown>): number | undefined {
  const m = meta.mtbench;
  if (typeof m === 'object' && m !== null && 'score' in m && typeof m.score === 'number') return m.score;
  return undefined;
}
