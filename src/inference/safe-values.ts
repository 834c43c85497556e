/**
 * The only values allowed into a launched command line or a path we create. Artifact names,
 * metadata and adapter configs are written by whoever can log an artifact, so none of them reaches
 * argv or the filesystem unless it passes one of these strict checks.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, normalize, relative } from 'node:path';
import { finalError } from './errors.js';

/** Hugging Face repo id (`org/name` or `name`): letters, digits, `._-`; no `..`/`--`, no leading `-`. */
const HF_PART = '[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?';
const HF_ID = new RegExp(`^${HF_PART}(?:/${HF_PART})?$`);

export function isHfId(value: string): boolean {
  return HF_ID.test(value) && !value.includes('..') && !value.includes('--');
}

/** Absolute, normalised, plain characters only: nothing a server could read as a flag or a shell as syntax. */
const SAFE_PATH = /^\/[A-Za-z0-9._+@/-]*$/;

export function isSafePath(value: string): boolean {
  return SAFE_PATH.test(value) && normalize(value) === value && !value.split('/').includes('..');
}

/** True when `child` is `parent` or inside it (both absolute). */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** W&B entity/project/artifact names and versions: letters, digits, `._-` (what W&B itself allows). */
const WANDB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function assertWandbName(what: string, value: string): string {
  if (!WANDB_NAME.test(value) || value.includes('..')) {
    throw finalError(`${what} ${JSON.stringify(value)} is not a valid W&B name (letters, digits, '.', '_', '-')`);
  }
  return value;
}

/**
 * The served/adapter name for one evaluation: derived from the evaluation id (never from the
 * artifact name) so it is unique, stable across retries of the same evaluation, and safe in argv,
 * URLs and paths. The hash keeps two ids that sanitise alike apart.
 */
export function servedNameFor(evaluationId: string): string {
  const slug = evaluationId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  const hash = createHash('sha256').update(evaluationId).digest('hex').slice(0, 8);
  return `evalhook-${slug ? `${slug}-` : ''}${hash}`;
}

/** GPU ids go into CUDA_VISIBLE_DEVICES and Redis keys: indexes or `GPU-<uuid>`/`MIG-…` style ids. */
const GPU_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function assertGpuIds(ids: readonly string[]): string[] {
  const bad = ids.filter((id) => !GPU_ID.test(id));
  if (bad.length)
    throw finalError(`GPU ids must be letters, digits, '_' or '-': ${bad.map((b) => JSON.stringify(b)).join(', ')}`);
  if (new Set(ids).size !== ids.length) throw finalError(`GPU ids repeat: ${ids.join(',')}`);
  return [...ids];
}
