/**
 * Pure naming rules: artifact paths (B4, webhooks §4), deterministic run ids, checkpoint position,
 * and which manifest paths are safe to write.
 */
import { createHash } from 'node:crypto';
import { WandbError } from './client.js';

export const REGISTRY_PREFIX = 'wandb-registry-';
export const LEGACY_REGISTRY = 'model-registry';

/**
 * `[org/]entity/project/collection:vN|alias` split into parts. The one parser of artifact references:
 * the webhook and admin API validate with it, the worker resolves with it, so every reference
 * accepted with a 202 resolves.
 */
export interface ArtifactPath {
  /** Only in the four-segment form `org/entity/project/collection`. */
  org?: string;
  /** Entity; for registries an org name, org-entity name or team entity of the org. */
  entity?: string;
  project: string;
  collection: string;
  /** `vN` when the reference is a version index. */
  version?: string;
  /** The part after `:` when it is not `vN`. */
  alias?: string;
  /** Registry name without the `wandb-registry-` prefix, or `model-registry` for the legacy one. */
  registry?: string;
}

const VERSION = /^v\d+$/;
// Project/registry names cannot contain / \ # ? % : CR LF (SDK validators); collection names cannot contain /.
const BAD_PROJECT = /[\\#?%:\r\n]/;
const USAGE = 'expected [org/]entity/project/collection:vN or :alias';

/**
 * Parse `[org/]entity/project/collection:vN|alias` (also `wandb-registry-x/collection:vN`, and any of
 * them behind `wandb-artifact://`). Collection names may contain spaces; the last `:` splits the
 * version or alias off.
 */
/** W&B's own limit on project/registry, collection, entity and alias names (SDK validators, reference §4). */
export const NAME_MAX = 128;

export function parseArtifactPath(input: string): ArtifactPath | { error: string } {
  let s = input.trim();
  if (s.startsWith('wandb-artifact://') && !s.startsWith('wandb-artifact://_id/'))
    s = s.slice('wandb-artifact://'.length);
  const colon = s.lastIndexOf(':');
  if (colon <= 0 || colon === s.length - 1) return { error: USAGE };
  const ref = s.slice(colon + 1);
  const parts = s.slice(0, colon).split('/');
  if (parts.some((p) => p.trim() === '')) return { error: 'empty path segment' };
  if (parts.some((p) => p.length > NAME_MAX) || ref.length > NAME_MAX)
    return { error: `a name is longer than ${NAME_MAX} characters (W&B's limit)` };
  if (ref.includes('/') || /[\r\n]/.test(ref)) return { error: 'the version or alias after ":" cannot contain "/"' };
  let org: string | undefined;
  let entity: string | undefined;
  let project: string;
  let collection: string;
  if (parts.length === 4) [org, entity, project, collection] = parts as [string, string, string, string];
  else if (parts.length === 3) [entity, project, collection] = parts as [string, string, string];
  else if (parts.length === 2 && parts[0]?.startsWith(REGISTRY_PREFIX))
    [project, collection] = parts as [string, string];
  else return { error: USAGE };
  if (BAD_PROJECT.test(project)) return { error: 'project name contains a forbidden character' };
  const registry = project.startsWith(REGISTRY_PREFIX)
    ? project.slice(REGISTRY_PREFIX.length)
    : project === LEGACY_REGISTRY
      ? LEGACY_REGISTRY
      : undefined;
  const path: ArtifactPath = { project, collection };
  if (org !== undefined) path.org = org;
  if (entity !== undefined) path.entity = entity;
  if (registry) path.registry = registry;
  if (VERSION.test(ref)) path.version = ref;
  else path.alias = ref;
  return path;
}

/** The parser for the worker: a reference it cannot read is a final error. */
export function artifactPathOrThrow(name: string): ArtifactPath {
  const p = parseArtifactPath(name);
  if ('error' in p) throw new WandbError(`cannot parse artifact name "${name}": ${p.error}`, false);
  return p;
}

/** `vN` or the alias: what comes after the collection's `:`. */
export const versionOrAlias = (p: ArtifactPath): string => p.version ?? p.alias ?? 'latest';

/** The node id from `wandb-artifact://_id/<id>` (or the id itself). */
export function parseNodeId(id: string): string {
  const m = /^wandb-artifact:\/\/_id\/(.+)$/.exec(id.trim());
  return (m ? m[1]! : id.trim()).replace(/\/+$/, '');
}

export const isRegistryProject = (project: string) => project.startsWith(REGISTRY_PREFIX);

/** One run per evaluation: the same evaluation id always maps to the same W&B run id. */
export function runIdFor(evaluationId: string): string {
  // Run ids must not contain :;,#?/' (B0); a hash prefix keeps them short and URL-safe.
  return 'mtb-' + createHash('sha256').update(evaluationId).digest('hex').slice(0, 16);
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  return undefined;
}

/** `meta[a.b]` as a nested object path, or the flat key `"a.b"`. */
function at(meta: Record<string, unknown>, key: string): unknown {
  if (key in meta) return meta[key];
  let v: unknown = meta;
  for (const part of key.split('.'))
    v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

function pick(meta: Record<string, unknown>, keys: string[]): number | undefined {
  for (const k of keys) {
    const v = num(at(meta, k));
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Checkpoint position. Epoch, in order: artifact metadata `epoch` or `torchtune.epoch`, the
 * checkpoint file's own epoch entry (`fileEpoch`, read from the .pt by the caller), then a name's
 * `_{n}` suffix as torchtune names checkpoints (`adapter_checkpoint_2` -> 2). Step: metadata `step`
 * or `global_step`.
 */
export function checkpointOf(
  meta: Record<string, unknown>,
  names: string[],
  fileEpoch?: number,
): { epoch?: number; step?: number } {
  let epoch = pick(meta, ['epoch', 'torchtune.epoch']) ?? num(fileEpoch);
  for (const n of names) epoch ??= num(/_(\d+)$/.exec(n)?.[1]);
  const step = pick(meta, ['step', 'global_step']);
  const out: { epoch?: number; step?: number } = {};
  if (epoch !== undefined) out.epoch = epoch;
  if (step !== undefined) out.step = step;
  return out;
}

/** A manifest path is written only if it stays inside the target directory. */
export function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return 'empty path';
  if (path.includes('\0')) return 'NUL byte';
  if (path.includes('\\')) return 'backslash';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'absolute path';
  if (path.split('/').some((seg) => seg === '..' || seg === '.' || seg === ''))
    return 'relative segment (.., . or empty)';
  return undefined;
}
