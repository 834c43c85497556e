/**
 * The fake's artifact-saving mutations (B5): createArtifact (digest deduplication, the run as
 * creator), createArtifactManifest, createArtifactFiles and commitArtifact, which checks what a real
 * server would: every file uploaded with its md5, the manifest uploaded with its registered digest,
 * and the artifact digest computed from the manifest entries.
 */
import type { Args, ResolverEnv } from './wandb-graphql.js';
import { jsonString } from './wandb-graphql.js';
import { manifestDigest, md5b64, type FakeArtifact, type FakeRun } from './wandb-state.js';

interface Helpers {
  artifactObj(a: FakeArtifact): object;
  artifactOrThrow(id: unknown): FakeArtifact;
  runOrThrow(entity: unknown, project: unknown, name: unknown): FakeRun;
}

const UPLOAD_HEADERS = ['x-fake-blob-type:BlockBlob'];

export function savingResolvers(env: ResolverEnv, h: Helpers): Record<string, unknown> {
  const { state } = env;
  const pending = (id: unknown): FakeArtifact => {
    const a = h.artifactOrThrow(id);
    if (a.state !== 'PENDING' || !a.saving) throw new Error(`artifact ${a.id} is already committed`);
    return a;
  };

  return {
    createArtifact: ({ input }: { input: Args }) => {
      const run = h.runOrThrow(input.entityName, input.projectName, input.runName);
      const name = String(input.artifactCollectionName ?? (input.artifactCollectionNames as string[] | undefined)?.[0]);
      const type = String(input.artifactTypeName);
      const c = state.ensureCollection(run.entity, run.project, name, 'ArtifactSequence', type);
      if (input.enableDigestDeduplication === true) {
        const same = c.memberships
          .map((m) => state.artifacts.get(m.artifactId)!)
          .find((a) => a.digest === input.digest && a.state === 'COMMITTED');
        if (same) return { artifact: h.artifactObj(same), artifactActions: [] };
      }
      const id = state.nextId('Artifact');
      const aliases = ((input.aliases as Args[] | undefined) ?? []).map((x) => String(x.alias));
      const a: FakeArtifact = {
        id,
        entity: run.entity,
        project: run.project,
        collection: name,
        type,
        versionIndex: c.memberships.length,
        digest: String(input.digest),
        metadata: input.metadata != null ? jsonString(input.metadata, 'metadata') : {},
        description: typeof input.description === 'string' ? input.description : null,
        tags: [],
        files: new Map(),
        manifest: { version: 1, storagePolicy: 'wandb-storage-policy-v1', storagePolicyConfig: {}, contents: {} },
        createdBy: { entity: run.entity, project: run.project, name: run.name },
        createdAt: new Date().toISOString(),
        state: 'PENDING',
        saving: { aliases },
      };
      state.artifacts.set(id, a);
      return { artifact: h.artifactObj(a), artifactActions: [] };
    },

    createArtifactManifest: ({ input }: { input: Args }) => {
      const a = pending(input.artifactID);
      h.runOrThrow(input.entityName, input.projectName, input.runName);
      if (input.digest) a.saving!.manifestDigest = String(input.digest);
      const uploadUrl = env.uploadUrl((body) => (a.saving!.manifest = body));
      return {
        artifactManifest: {
          id: `${a.id}-manifest`,
          digest: input.digest,
          type: input.type,
          file: { id: `${a.id}-manifest-file`, uploadUrl, uploadHeaders: UPLOAD_HEADERS, directUrl: '' },
        },
      };
    },

    createArtifactFiles: ({ input }: { input: Args }) => {
      if (input.storageLayout !== 'V2') throw new Error('fake W&B supports storage layout V2 only');
      const nodes = (input.artifactFiles as Args[]).map((spec) => {
        const a = pending(spec.artifactID);
        const name = String(spec.name);
        const uploadUrl = env.uploadUrl((body) => a.files.set(name, body));
        return {
          id: `${a.id}:${name}`,
          name,
          storagePath: `wandb_artifacts/${a.id}/${name}`,
          uploadUrl,
          uploadHeaders: UPLOAD_HEADERS,
          directUrl: '',
          artifact: h.artifactObj(a),
        };
      });
      return {
        files: {
          edges: nodes.map((node, i) => ({ cursor: String(i), node })),
          pageInfo: { hasNextPage: false, hasPreviousPage: false },
          uploadHeaders: [],
        },
      };
    },

    commitArtifact: ({ input }: { input: Args }) => {
      const a = pending(input.artifactID);
      const raw = a.saving!.manifest;
      if (!raw) throw new Error('manifest was never uploaded');
      if (md5b64(raw) !== a.saving!.manifestDigest)
        throw new Error('uploaded manifest does not match its registered digest');
      const manifest = JSON.parse(raw.toString('utf8')) as FakeArtifact['manifest'];
      for (const [path, e] of Object.entries(manifest.contents)) {
        const bytes = a.files.get(path);
        if (!bytes) throw new Error(`file ${path} was never uploaded`);
        if (md5b64(bytes) !== e.digest) throw new Error(`file ${path}: md5 does not match the manifest`);
      }
      if (manifestDigest(manifest.contents) !== a.digest)
        throw new Error('artifact digest does not match the manifest');
      a.manifest = manifest;
      a.state = 'COMMITTED';
      const aliases = a.saving!.aliases;
      delete a.saving;
      state.addMembership(state.collection(a.entity, a.project, a.collection)!, a.id, aliases);
      const run = state.run(a.createdBy!.entity, a.createdBy!.project, a.createdBy!.name);
      run?.outputArtifacts.push(a.id);
      return { artifact: h.artifactObj(a) };
    },
  };
}
