/**
 * The W&B Automation webhook body. W&B sends whatever JSON template the automation author typed,
 * with `${...}` variables substituted as strings, so: any object, every known field an optional
 * string, unknown fields kept. This module turns it into a Delivery (or a reason to ignore it).
 * Facts: shared/reference/wandb-webhooks.md §2–§4.
 */
import { z } from 'zod';
// One artifact-reference parser for the webhook, the admin API and the worker.
import { LEGACY_REGISTRY, NAME_MAX, parseArtifactPath, REGISTRY_PREFIX, type ArtifactPath } from '../wandb/names.js';

export { LEGACY_REGISTRY, parseArtifactPath, REGISTRY_PREFIX, type ArtifactPath };

const field = z.string().max(4096).optional();

export const WandbWebhookBody = z.looseObject({
  event_type: field,
  event_author: field,
  entity_name: field,
  project_name: field,
  artifact_collection_name: field,
  artifact_version: field,
  artifact_version_string: field,
  alias: field,
  tag: field,
  source: field,
});
export type WandbWebhookBody = z.infer<typeof WandbWebhookBody>;

/** What we act on; UPDATE_ARTIFACT_ALIAS is the deprecated spelling of "alias added". */
const ACCEPTED = {
  LINK_ARTIFACT: 'LINK_ARTIFACT',
  LINK_MODEL: 'LINK_MODEL',
  ADD_ARTIFACT_ALIAS: 'ADD_ARTIFACT_ALIAS',
  UPDATE_ARTIFACT_ALIAS: 'ADD_ARTIFACT_ALIAS',
  CREATE_ARTIFACT: 'CREATE_ARTIFACT',
} as const;
export type AcceptedEventType = (typeof ACCEPTED)[keyof typeof ACCEPTED];

export interface Delivery {
  eventType: AcceptedEventType | 'MANUAL';
  /** GraphQL node id from `wandb-artifact://_id/<id>`. */
  artifactId?: string;
  /** As given (`artifact_version_string` or the admin's `artifact`). */
  artifactName?: string;
  path?: ArtifactPath;
  /** The alias that triggered an alias event, plus any alias the name points at. */
  aliases: string[];
  author?: string;
}

export type ParseOutcome =
  | { kind: 'delivery'; delivery: Delivery }
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; field: string; message: string };

const ARTIFACT_URI = /^wandb-artifact:\/\/_id\/([A-Za-z0-9+/=_-]{4,512})$/;

/** The node id from an `artifact_version` URI, or an error message. */
export function parseArtifactUri(uri: string): { id: string } | { error: string } {
  const m = ARTIFACT_URI.exec(uri.trim());
  if (!m?.[1]) return { error: 'expected wandb-artifact://_id/<base64 node id>' };
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  // Node ids are printable `Type:number` strings (e.g. Artifact:154729786); anything else is not one.
  if (!/^[A-Za-z]+:[A-Za-z0-9_-]+$/.test(decoded)) return { error: 'the id part is not a base64 W&B node id' };
  // Canonical form (standard base64 of the decoded id): padding or URL-safe spellings of one node
  // id must dedupe to one evaluation.
  return { id: Buffer.from(decoded, 'utf8').toString('base64') };
}

/** True when a template was sent without substitution (the W&B "Test" button). */
function isUnsubstituted(body: WandbWebhookBody): boolean {
  return Object.values(body).some((v) => typeof v === 'string' && /\$\{[^}]*\}/.test(v));
}

export function parseWebhookBody(body: WandbWebhookBody): ParseOutcome {
  if (isUnsubstituted(body))
    return { kind: 'ignored', reason: 'test delivery: template variables (${...}) were not substituted' };
  const rawType = body.event_type?.trim();
  if (!rawType)
    return {
      kind: 'ignored',
      reason:
        'no event_type in the body (a test delivery, or the payload template lacks "event_type": "${event_type}")',
    };
  const eventType = (ACCEPTED as Record<string, AcceptedEventType | undefined>)[rawType.toUpperCase()];
  if (!eventType) return { kind: 'ignored', reason: `event type ${rawType} does not start evaluations` };

  const delivery: Delivery = { eventType, aliases: [] };
  if (body.event_author) delivery.author = body.event_author;
  if (body.artifact_version?.trim()) {
    const uri = parseArtifactUri(body.artifact_version);
    if ('error' in uri) return { kind: 'invalid', field: 'artifact_version', message: uri.error };
    delivery.artifactId = uri.id;
  }
  if (body.artifact_version_string?.trim()) {
    const path = parseArtifactPath(body.artifact_version_string);
    if ('error' in path) return { kind: 'invalid', field: 'artifact_version_string', message: path.error };
    delivery.artifactName = body.artifact_version_string.trim();
    delivery.path = path;
    if (path.alias) delivery.aliases.push(path.alias);
  } else if (body.artifact_collection_name?.trim() && body.project_name?.trim()) {
    for (const f of ['artifact_collection_name', 'project_name', 'entity_name'] as const) {
      if ((body[f]?.trim().length ?? 0) > NAME_MAX)
        return { kind: 'invalid', field: f, message: `longer than ${NAME_MAX} characters (W&B's limit)` };
    }
    // No version string: keep what we know for routing; the node id names the version.
    const project = body.project_name.trim();
    delivery.path = { project, collection: body.artifact_collection_name.trim() };
    if (body.entity_name?.trim()) delivery.path.entity = body.entity_name.trim();
    if (project.startsWith(REGISTRY_PREFIX)) delivery.path.registry = project.slice(REGISTRY_PREFIX.length);
    else if (project === LEGACY_REGISTRY) delivery.path.registry = LEGACY_REGISTRY;
  }
  if (!delivery.artifactId && !delivery.artifactName) {
    return {
      kind: 'invalid',
      field: 'artifact_version_string',
      message: 'artifact_version_string or artifact_version is required to know which version to evaluate',
    };
  }
  const alias = body.alias?.trim();
  if (alias && alias.length > NAME_MAX)
    return { kind: 'invalid', field: 'alias', message: `longer than ${NAME_MAX} characters (W&B's limit)` };
  if (alias && !delivery.aliases.includes(alias)) delivery.aliases.unshift(alias);
  return { kind: 'delivery', delivery };
}

/** A manual trigger names the artifact by full path or by `wandb-artifact://_id/...`. */
export function parseManualArtifact(artifact: string): { delivery: Delivery } | { error: string } {
  const s = artifact.trim();
  if (s.startsWith('wandb-artifact://')) {
    const uri = parseArtifactUri(s);
    return 'error' in uri ? uri : { delivery: { eventType: 'MANUAL', artifactId: uri.id, aliases: [] } };
  }
  const path = parseArtifactPath(s);
  if ('error' in path) return path;
  return { delivery: { eventType: 'MANUAL', artifactName: s, path, aliases: path.alias ? [path.alias] : [] } };
}
