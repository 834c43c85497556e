/**
 * The evaluation-duration histogram, kept in one Redis hash (keys(prefix).durations) by the worker
 * that finishes a job, so /metrics reads it with one HGETALL whatever the number of jobs.
 * Fields: `<outcome>:le:<bucket>` (cumulative counts), `<outcome>:sum`, `<outcome>:count`.
 */
import type { Redis } from 'ioredis';
import { keys } from './keys.js';

export const DURATION_BUCKETS = [60, 300, 600, 1200, 1800, 3600, 7200, 14400] as const;
export const OUTCOMES = ['succeeded', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export async function recordDuration(redis: Redis, prefix: string, outcome: Outcome, seconds: number): Promise<void> {
  const key = keys(prefix).durations;
  const m = redis.multi();
  for (const le of DURATION_BUCKETS) if (seconds <= le) m.hincrby(key, `${outcome}:le:${le}`, 1);
  m.hincrbyfloat(key, `${outcome}:sum`, seconds);
  m.hincrby(key, `${outcome}:count`, 1);
  await m.exec();
}

/** Prometheus text exposition of the histogram from the hash's numbers. */
export function renderDurations(name: string, help: string, fields: Record<string, number>): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  for (const outcome of OUTCOMES) {
    const count = fields[`${outcome}:count`] ?? 0;
    for (const le of DURATION_BUCKETS)
      lines.push(`${name}_bucket{le="${le}",outcome="${outcome}"} ${fields[`${outcome}:le:${le}`] ?? 0}`);
    lines.push(`${name}_bucket{le="+Inf",outcome="${outcome}"} ${count}`);
    lines.push(`${name}_sum{outcome="${outcome}"} ${fields[`${outcome}:sum`] ?? 0}`);
    lines.push(`${name}_count{outcome="${outcome}"} ${count}`);
  }
  return `${lines.join('\n')}\n`;
}
