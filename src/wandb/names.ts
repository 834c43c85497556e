/**
 * Pure naming rules: artifact paths (B4, webhooks §4), deterministic run ids, checkpoint position,
 * and which manifest paths are safe to write.
 */
import { createHash } from 'node:crypto';
import { WandbError } from './client.js';

export const REGISTRY_PREFIX = 'wandb-registry-';

export interface ArtifactPath {
  /** Entity, org name or org-entity name (registries); absent when the path has none. */
  prefix?: string;
  project?: string;
  collection: string;
  /** `vN` or an alias; default `latest`. */
  alias: string;
}

/**
 * `[prefix/][project/]collection[:alias]`, also as `wandb-artifact://entity/project/name:alias`.
 * Collection names may contain spaces; only the first `:` after the last `/` splits the alias.
 */
export function parseArtifactPath(name: string): ArtifactPath {
  let s = name.trim();
  if (s.startsWith('wandb-artifact://')) s = s.slice('wandb-artifact://'.length);
  const slash = s.lastIndexOf('/');
  const colon = s.indexOf(':', slash + 1);
  const path = colon >= 0 ? s.slice(0, colon) : s;
  const alias = colon >= 0 ? s.slice(colon + 1) : 'latest';
  const parts = path.split('/');
  if (parts.some((p) => p.length === 0) || parts.length > 3 || !alias) {
    throw new WandbError(`cannot parse artifact name "${name}": expected [entity/]project/collection:version`, false);
  }
  const collection = parts.at(-1)!;
  if (parts.length === 1) return { collection, alias };
  if (parts.length === 2) return { project: parts[0], collection, alias };
  return { prefix: parts[0], project: parts[1], collection, alias };
}

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

const EPOCH_KEYS = ['epoch', 'epochs', 'checkpoint_epoch'];
const STEP_KEYS = ['step', 'global_step', 'steps', 'checkpoint_step', 'iteration'];

function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  return undefined;
}

function pick(meta: Record<string, unknown>, keys: string[]): number | undefined {
  for (const k of keys) {
    const v = num(meta[k]);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Checkpoint position: metadata keys first (epoch/step/global_step), then the checkpoint file's own
 * epoch (`file.epoch`: a torchtune `.pt`'s `epoch`, or `epochs_run` - 1), then the collection or alias
 * name (`…-epoch3`, `step-1200`, `checkpoint-1200`), then the version index as the epoch.
 */
export function checkpointOf(meta: Record<string, unknown>, names: string[], versionIndex?: number, file: { epoch?: number } = {}): { epoch?: number; step?: number } {
  let epoch = pick(meta, EPOCH_KEYS) ?? file.epoch;
  let step = pick(meta, STEP_KEYS);
  for (const n of names) {
    epoch ??= num(/(?:^|[^a-z])(?:epoch|ep)[-_ ]?(\d+)/i.exec(n)?.[1]);
    step ??= num(/(?:^|[^a-z])(?:global[-_]?step|step|checkpoint|ckpt|iter)[-_ ]?(\d+)/i.exec(n)?.[1]);
  }
  if (epoch === undefined && step === undefined && versionIndex !== undefined) epoch = versionIndex;
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
  if (path.split('/').some((seg) => seg === '..' || seg === '.' || seg === '')) return 'relative segment (.., . or empty)';
  return undefined;
}
