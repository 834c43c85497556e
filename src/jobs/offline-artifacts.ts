/**
 * Without WANDB_API_KEY nothing can be resolved or downloaded; the artifact is taken at its word
 * (its name) so evaluations against an already-served model (endpoint with INFERENCE_MODEL) still run.
 */
import type { ArtifactSource, ResolvedArtifact } from '../ports.js';
import { parseArtifactPath, versionOrAlias } from '../wandb/names.js';
import { FinalError } from '../errors.js';

export function createOfflineArtifacts(): ArtifactSource {
  return {
    async resolve(ref) {
      const name = ref.name ?? (ref.id ? `artifact-${ref.id}` : undefined);
      if (!name) throw new FinalError('the trigger names no artifact');
      const parsed = parseArtifactPath(name);
      const path = 'error' in parsed ? { project: 'unknown', collection: name } : parsed;
      const [entity, project, collection, version] = [
        path.entity ?? 'unknown',
        path.project,
        path.collection,
        'error' in parsed ? 'latest' : versionOrAlias(parsed),
      ];
      const resolved: ResolvedArtifact = {
        id: ref.id ?? name,
        entity,
        project,
        collection,
        version,
        fullName: `${entity}/${project}/${collection}:${version}`,
        type: 'model',
        digest: '',
        aliases: [],
        metadata: {},
        files: [],
      };
      return resolved;
    },
    async download(artifact) {
      throw new FinalError(
        `cannot download ${artifact.fullName}: WANDB_API_KEY is not set (offline mode serves only already-running models)`,
      );
    },
  };
}
