/** What /metrics reads through the evaluation service: BullMQ counts (cached), durations, worker counters. */
import type { ServiceContext } from './service-context.js';

/** Queue counts for /metrics are shared for this long, whatever the number of scrapers. */
const COUNTS_CACHE_MS = 5_000;

export function createQueueMetrics({ client, queue, k, guard }: ServiceContext) {
  let counts: { at: number; value: Promise<Record<string, number>> } | undefined;

  return {
    countsByState() {
      const now = Date.now();
      if (!counts || now - counts.at > COUNTS_CACHE_MS) {
        const value = guard('count jobs', client, queue, () =>
          queue.getJobCounts('waiting', 'prioritized', 'delayed', 'waiting-children', 'active', 'completed', 'failed'),
        );
        counts = { at: now, value };
        // A failure is not cached: the next scrape asks again.
        value.catch(() => {
          if (counts?.value === value) counts = undefined;
        });
      }
      return counts.value;
    },

    durations: () => guard('read durations', client, queue, () => numbers(client.hgetall(k.durations))),

    stats: () => guard('read stats', client, queue, () => numbers(client.hgetall(k.stats))),
  };
}

async function numbers(raw: Promise<Record<string, string>>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [field, v] of Object.entries(await raw)) {
    const n = Number(v);
    if (Number.isFinite(n)) out[field] = n;
  }
  return out;
}
