/**
 * Which evaluation profiles a delivery starts. A rule matches when every criterion it names
 * matches (collections and registries by glob, aliases, event types); criteria it leaves out match
 * anything. No rules configured => the default profile. Used by the webhook and manual triggers.
 */
import type { Config } from '../config.js';
import type { Rule } from '../profile.js';
import { REGISTRY_PREFIX, type Delivery } from './wandb-payload.js';

/** `*` = any run of characters, `?` = one character; everything else literal; whole-string match. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

const cache = new Map<string, RegExp>();
function globMatch(glob: string, value: string): boolean {
  let re = cache.get(glob);
  if (!re) cache.set(glob, (re = globToRegExp(glob)));
  return re.test(value);
}

/** LINK_MODEL is the backend name of LINK_ARTIFACT; rules may use either. */
function sameEvent(ruleType: string, eventType: string): boolean {
  const norm = (t: string) => (t.toUpperCase() === 'LINK_MODEL' ? 'LINK_ARTIFACT' : t.toUpperCase());
  return norm(ruleType) === norm(eventType);
}

export function ruleMatches(rule: Rule, d: Delivery): boolean {
  const path = d.path;
  if (rule.collections && !(path && rule.collections.some((g) => globMatch(g, path.collection)))) return false;
  if (rule.registries) {
    // `model`, `wandb-registry-model` and the legacy `model-registry` are all fine ways to name one.
    const names = path ? [path.project, path.registry, path.registry ? `${REGISTRY_PREFIX}${path.registry}` : undefined] : [];
    const present = names.filter((n): n is string => typeof n === 'string');
    if (!rule.registries.some((g) => present.some((n) => globMatch(g, n)))) return false;
  }
  if (rule.aliases && !rule.aliases.some((a) => d.aliases.some((x) => globMatch(a, x)))) return false;
  // Event types describe W&B events; a manual trigger is an operator's explicit request and passes.
  if (rule.eventTypes && d.eventType !== 'MANUAL' && !rule.eventTypes.some((t) => sameEvent(t, d.eventType))) return false;
  return true;
}

/** Profile names to run, in rule order, without repeats. Empty when rules exist and none match. */
export function route(config: Config, delivery: Delivery): string[] {
  if (config.rules.length === 0) return [config.defaultProfile];
  const out: string[] = [];
  for (const rule of config.rules) if (ruleMatches(rule, delivery) && !out.includes(rule.profile)) out.push(rule.profile);
  return out;
}

/** Manual triggers and `production`-alias events jump the queue (BullMQ: lower number = sooner). */
export function isUrgent(delivery: Delivery): boolean {
  return delivery.eventType === 'MANUAL' || delivery.aliases.includes('production');
}
