/**
 * Which evaluation profiles a delivery starts. A rule matches when every criterion it names
 * matches (collections and registries by glob, aliases, event types); criteria it leaves out match
 * anything. No rules configured => the default profile. Used by the webhook and manual triggers.
 */
import type { Config } from '../config.js';
import type { Rule } from '../profile.js';
import { REGISTRY_PREFIX, type Delivery } from './wandb-payload.js';

/**
 * `*` = any run of characters, `?` = one character; everything else literal; whole-string match.
 * No regular expression and no backtracking: the glob splits at `*` into segments, the first must
 * match at the start, the last at the end, and each middle one is taken at its leftmost match
 * (leftmost is always safe, as a later `*` can absorb whatever lies between). Each segment is
 * searched once, so a match costs O(value x glob) at worst whatever the number of stars (a regex
 * `^.*-.*-.*-ja$` backtracks exponentially in the stars).
 */
export function globMatch(glob: string, value: string): boolean {
  const segs = glob.split('*');
  if (segs.length === 1) return value.length === glob.length && segmentAt(glob, value, 0);
  const first = segs[0] ?? '';
  const last = segs[segs.length - 1] ?? '';
  if (first.length + last.length > value.length) return false;
  if (!segmentAt(first, value, 0) || !segmentAt(last, value, value.length - last.length)) return false;
  let pos = first.length;
  const end = value.length - last.length;
  for (let i = 1; i < segs.length - 1; i++) {
    const seg = segs[i] ?? '';
    if (seg === '') continue;
    const at = findSegment(seg, value, pos, end);
    if (at < 0) return false;
    pos = at + seg.length;
  }
  return true;
}

/** `seg` (literal but `?`) matches value at `at`. */
function segmentAt(seg: string, value: string, at: number): boolean {
  if (at < 0 || at + seg.length > value.length) return false;
  for (let j = 0; j < seg.length; j++) if (seg[j] !== '?' && seg[j] !== value[at + j]) return false;
  return true;
}

/** Leftmost start >= from where seg fits entirely before `end`, or -1. */
function findSegment(seg: string, value: string, from: number, end: number): number {
  for (let at = from; at + seg.length <= end; at++) if (segmentAt(seg, value, at)) return at;
  return -1;
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
    const names = path
      ? [path.project, path.registry, path.registry ? `${REGISTRY_PREFIX}${path.registry}` : undefined]
      : [];
    const present = names.filter((n): n is string => typeof n === 'string');
    if (!rule.registries.some((g) => present.some((n) => globMatch(g, n)))) return false;
  }
  if (rule.aliases && !rule.aliases.some((a) => d.aliases.some((x) => globMatch(a, x)))) return false;
  // Event types describe W&B events; a manual trigger is an operator's explicit request and passes.
  if (rule.eventTypes && d.eventType !== 'MANUAL' && !rule.eventTypes.some((t) => sameEvent(t, d.eventType)))
    return false;
  return true;
}

/** Profile names to run, in rule order, without repeats. Empty when rules exist and none match. */
export function route(config: Config, delivery: Delivery): string[] {
  if (config.rules.length === 0) return [config.defaultProfile];
  const out: string[] = [];
  for (const rule of config.rules)
    if (ruleMatches(rule, delivery) && !out.includes(rule.profile)) out.push(rule.profile);
  return out;
}

/** Manual triggers and `production`-alias events jump the queue (BullMQ: lower number = sooner). */
export function isUrgent(delivery: Delivery): boolean {
  return delivery.eventType === 'MANUAL' || delivery.aliases.includes('production');
}
