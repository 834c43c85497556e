/**
 * Without WANDB_API_KEY nothing can be resolved or downloaded; the artifact is taken at its word
 * (its name) so evaluations against an already-served model (endpoint with INFERENCE_MODEL) still run.
 */
import type { ArtifactSource, ResolvedArtifact } from '../ports.js';
import { parseArtifactPath } from '../wandb/names.js';
import { FinalError } from './failures.js';

export function createOfflineArtifacts(): ArtifactSource {
  return {
    async resolve(ref) {
      const name = ref.name ?? (ref.id ? `artifact-${ref.id}` : undefined);
      if (!name) throw new FinalError('the trigger names no artifact');
      const path = parseArtifactPath(name);
      const [entity, project, collection, version] = [path.prefix ?? 'unknown', path.project ?? 'unknown', path.collection, path.alias];
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
      throw new FinalError(`cannot download ${artifact.fullName}: WANDB_API_KEY is not set (offline mode serves only already-running models)`);
    },
  };
}
