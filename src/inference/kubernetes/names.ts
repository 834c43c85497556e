/**
 * Names and labels of the objects evalhook creates. Everything is derived from the evaluation id
 * (never from the artifact name, which anyone who can log an artifact controls) and checked against
 * the API server's own rules, so a hostile id cannot produce an invalid or colliding object.
 */
import { servedNameFor } from '../safe-values.js';
import { DNS_LABEL } from './settings.js';

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const EVALUATION_LABEL = 'evalhook.io/evaluation';
/** Installations sharing a namespace (different QUEUE_PREFIX) never sweep each other's Jobs. */
export const QUEUE_LABEL = 'evalhook.io/queue';
/** The exact evaluation id (a label value cannot hold every id). */
export const EVALUATION_ANNOTATION = 'evalhook.io/evaluation-id';
export const INIT_CONTAINER = 'fetch-artifact';
export const SERVER_CONTAINER = 'server';
/** fetch-artifact's exit code for a checkpoint no retry can serve (bad files, base model mismatch). */
export const EXIT_UNSERVABLE = 78;

/** The Job name: the served name (`evalhook-<slug>-<hash>`, ≤ 58 chars), already a DNS-1123 label. */
export function jobNameFor(evaluationId: string): string {
  const name = servedNameFor(evaluationId);
  if (!DNS_LABEL.test(name)) throw new Error(`internal: ${name} is not a DNS-1123 label`);
  return name;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/;

/** A label value for any string: itself when valid, else the derived job name (also a valid value). */
export function labelValueFor(value: string): string {
  return value.length > 0 && LABEL_VALUE.test(value) ? value : jobNameFor(value);
}

export function managedSelector(prefix: string): string {
  return `${MANAGED_BY}=evalhook,${QUEUE_LABEL}=${labelValueFor(prefix)}`;
}
