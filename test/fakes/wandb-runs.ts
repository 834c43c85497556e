/**
 * The fake's run mutations (B1, B3, B5): upsertBucket (create or update by name or id; config
 * replaced as W&B does and checked for the `{key: {value}}` form), useArtifact (input edge),
 * createRunFiles (presigned upload URLs) and markRunFilesUploaded.
 */
import { jsonString, str, type Args, type ResolverEnv } from './wandb-graphql.js';
import type { FakeArtifact, FakeRun } from './wandb-state.js';

interface Helpers {
  artifactObj(a: FakeArtifact): object;
  runObj(r: FakeRun): object;
  artifactOrThrow(id: unknown): FakeArtifact;
  runOrThrow(entity: unknown, project: unknown, name: unknown): FakeRun;
}

export function runResolvers(env: ResolverEnv, h: Helpers): Record<string, unknown> {
  const { state } = env;
  const { artifactObj, runObj, artifactOrThrow, runOrThrow } = h;
  return {
    upsertBucket: ({ input }: { input: Args }) => {
      let run: FakeRun | undefined;
      let inserted = false;
      if (input.id) {
        run = state.runs.find((r) => r.id === input.id);
        if (!run) throw new Error(`run with id ${String(input.id)} not found`);
      } else {
        const entity = str(input.entityName) ?? state.viewer.entity;
        const project = str(input.modelName) ?? 'uncategorized';
        const name = str(input.name) ?? state.nextId('r').slice(0, 8).toLowerCase();
        run = state.run(entity, project, name);
        if (!run) {
          run = state.newRun(entity, project, name);
          inserted = true;
        }
      }
      if (input.config !== undefined && input.config !== null) {
        const wrapped = jsonString(input.config, 'config');
        // Like W&B: the config sent replaces the stored one.
        run.config = {};
        for (const [k, v] of Object.entries(wrapped)) {
          if (typeof v !== 'object' || v === null || !('value' in v))
            throw new Error(`config key ${k} must be {"value": ...}`);
          run.config[k] = (v as { value: unknown }).value;
        }
      }
      if (input.summaryMetrics != null) Object.assign(run.summary, jsonString(input.summaryMetrics, 'summaryMetrics'));
      if (input.displayName != null) run.displayName = String(input.displayName);
      if (input.jobType != null) run.jobType = String(input.jobType);
      if (input.groupName != null) run.group = String(input.groupName);
      if (input.notes != null) run.notes = String(input.notes);
      if (Array.isArray(input.tags)) run.tags = input.tags.map(String);
      // An explicit resume: file_stream posts are welcome again (otherwise they would resurrect it).
      if (input.state === 'running' || input.state === 'pending')
        Object.assign(run, { state: 'running', completed: false });
      return { bucket: runObj(run), inserted };
    },
    useArtifact: ({ input }: { input: Args }) => {
      const run = runOrThrow(input.entityName, input.projectName, input.runName);
      const a = artifactOrThrow(input.artifactID);
      if (!run.inputArtifacts.some((e) => e.artifactId === a.id)) {
        const edge: FakeRun['inputArtifacts'][number] = { artifactId: a.id };
        if (typeof input.artifactEntityName === 'string') edge.artifactEntityName = input.artifactEntityName;
        if (typeof input.artifactProjectName === 'string') edge.artifactProjectName = input.artifactProjectName;
        run.inputArtifacts.push(edge);
      }
      return { artifact: artifactObj(a), run: runObj(run) };
    },
    createRunFiles: ({ input }: { input: Args }) => {
      const run = runOrThrow(input.entityName, input.projectName, input.runName);
      const files = (input.files as string[]).map((name) => {
        if (!run.files.has(name)) run.files.set(name, { uploaded: false });
        const uploadUrl = env.uploadUrl((body) => {
          const f = run.files.get(name) ?? { uploaded: false };
          f.content = body;
          run.files.set(name, f);
        });
        return { id: name, name, uploadUrl, directUrl: '', uploadHeaders: [] };
      });
      return { runID: run.id, uploadHeaders: ['x-fake-blob-type:BlockBlob'], files };
    },
    markRunFilesUploaded: ({ input }: { input: Args }) => {
      const run = runOrThrow(input.entityName, input.projectName, input.runName);
      for (const name of input.files as string[]) {
        const f = run.files.get(name);
        if (!f?.content) throw new Error(`run file ${name} was never uploaded`);
        f.uploaded = true;
      }
      return { success: true };
    },
  };
}
