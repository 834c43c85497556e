/**
 * The worker's second look at what the webhook asked for. Routing matched the payload's *name*
 * (artifact_version_string) against the rules, but the worker resolves the payload's *id*; when
 * the two name different versions, the id's version must still satisfy a rule that routes to this
 * profile, or nothing is evaluated (and nothing written back) for it.
 */
import type { Config } from '../config.js';
import type { ResolvedArtifact } from '../ports.js';
import { ruleMatches } from '../server/routing.js';
import { LEGACY_REGISTRY, REGISTRY_PREFIX, type Delivery } from '../server/wandb-payload.js';
import type { EvaluationJobData } from './job-data.js';

/** Why the resolved version is not what the rule that queued this evaluation accepted, or undefined. */
export function payloadMismatch(
  config: Config,
  data: EvaluationJobData,
  artifact: ResolvedArtifact,
): string | undefined {
  if (!artifact.nameDisagreement || !data.artifact.name || !data.artifact.id) return undefined;
  const what = `${artifact.nameDisagreement}; evaluating the id's version ${artifact.fullName} was not asked for`;
  // A name pinned to a version (`:vN`) that resolves elsewhere is never a moved alias.
  if (/:v\d+\s*$/.test(data.artifact.name)) return `payload name and id disagree: ${what}`;
  const rules = config.rules.filter((r) => r.profile === data.profile);
  // No rules: the name did not route anything, so the id alone decides (an alias may have moved on).
  if (rules.length === 0) return undefined;
  const p = artifact.project;
  const registry = p.startsWith(REGISTRY_PREFIX)
    ? p.slice(REGISTRY_PREFIX.length)
    : p === LEGACY_REGISTRY
      ? LEGACY_REGISTRY
      : undefined;
  const delivery: Delivery = {
    eventType: data.trigger.eventType,
    path: { entity: artifact.entity, project: p, collection: artifact.collection, ...(registry ? { registry } : {}) },
    aliases: artifact.aliases,
  };
  if (rules.some((r) => ruleMatches(r, delivery))) return undefined;
  return `payload name and id disagree: ${what}, and no rule routing to profile "${data.profile}" matches it (registry, collection, aliases, event)`;
}
