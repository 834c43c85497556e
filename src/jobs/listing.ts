/**
 * Reading evaluations for the admin API: one view (job + cancel flag), and the newest-first list
 * paged over the status index, with artifact filter and a bounded scan per call.
 */
import type { EvaluationStatus, EvaluationJob } from './job-data.js';
import type { ServiceContext } from './service-context.js';
import { EvaluationNotFoundError } from './service-errors.js';
import {
  CancelFlagSchema,
  decodeCursor,
  encodeCursor,
  toView,
  type CancelFlag,
  type EvaluationView,
  type QueueState,
} from './views.js';

const LIST_MAX_LIMIT = 100;
/** Index entries one list call reads at most (artifact filters skip entries): bounds its cost. */
const LIST_SCAN_BUDGET = 2_000;
const LIST_BATCH = 200;

export interface ListQuery {
  status?: EvaluationStatus | undefined;
  /** Case-insensitive substring of the artifact name or id. */
  artifact?: string | undefined;
  cursor?: string | undefined;
  limit: number;
}

export type EvaluationReads = ReturnType<typeof createEvaluationReads>;

export function createEvaluationReads({ client, queue, index, k, guard }: ServiceContext) {
  async function cancelFlag(id: string): Promise<CancelFlag | undefined> {
    return parseFlag(await client.hget(k.cancelled, id));
  }

  async function load(id: string): Promise<{ job: EvaluationJob; state: QueueState } | undefined> {
    const job = await queue.getJob(id);
    if (!job) return undefined;
    return { job, state: (await job.getState()) as QueueState };
  }

  async function viewOf(id: string): Promise<EvaluationView | undefined> {
    const [found, flag] = await Promise.all([load(id), cancelFlag(id)]);
    return found ? toView(found.job, found.state, flag) : undefined;
  }

  async function mustView(id: string): Promise<EvaluationView> {
    const view = await viewOf(id);
    if (!view) throw new EvaluationNotFoundError(id);
    return view;
  }

  /** Re-file an evaluation under its current status (after cancel/retry, or a stale entry found on read). */
  async function reindex(view: EvaluationView): Promise<void> {
    await index.move(view.id, view.status);
  }

  return {
    cancelFlag,
    load,
    mustView,
    reindex,

    get: (id: string) => guard('get evaluation', client, queue, () => viewOf(id)),

    list: (query: ListQuery) =>
      guard('list evaluations', client, queue, async (signal) => {
        const limit = Math.max(1, Math.min(LIST_MAX_LIMIT, query.limit));
        const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
        const needle = query.artifact?.toLowerCase();
        const items: EvaluationView[] = [];
        let scanned = 0;
        let lastScanned: readonly [number, string] | undefined;
        let exhausted = false;
        for (let offset = 0; items.length <= limit && scanned < LIST_SCAN_BUDGET;) {
          if (signal.aborted) return { items: [], nextCursor: null };
          // Unfiltered, read just what the page still needs (+1 to know whether more follow).
          const want = needle ? LIST_BATCH : Math.min(LIST_BATCH, limit + 1 - items.length);
          const batch = await index.page(query.status, after, offset, want);
          offset += batch.length;
          if (batch.length < want) exhausted = true;
          const fresh = batch.filter(
            (e) => !after || e.queuedAt < after[0] || (e.queuedAt === after[0] && e.id < after[1]),
          );
          const [found, flags] = await Promise.all([
            Promise.all(fresh.map((e) => load(e.id))),
            fresh.length ? client.hmget(k.cancelled, ...fresh.map((e) => e.id)) : Promise.resolve([]),
          ]);
          const gone: string[] = [];
          for (let i = 0; i < fresh.length && items.length <= limit; i++) {
            const entry = fresh[i]!;
            scanned++;
            lastScanned = [entry.queuedAt, entry.id];
            const f = found[i];
            const view = f ? toView(f.job, f.state, parseFlag(flags[i])) : undefined;
            if (!f) gone.push(entry.id);
            if (!view) continue;
            if (query.status && view.status !== query.status) {
              void reindex(view).catch(() => undefined); // stale entry: file it where it belongs now
              continue;
            }
            const hay =
              `${view.artifact.name ?? ''}\n${view.artifact.id ?? ''}\n${view.artifact.fullName ?? ''}`.toLowerCase();
            if (needle && !hay.includes(needle)) continue;
            items.push(view);
          }
          // Jobs BullMQ removed (retention) leave the index here rather than in a full scan.
          if (gone.length) void index.remove(gone).catch(() => undefined);
          if (exhausted) break;
        }
        if (items.length > limit) {
          items.length = limit;
          const last = items[limit - 1]!;
          return { items, nextCursor: encodeCursor([Date.parse(last.timings.queuedAt), last.id]) };
        }
        // The scan budget ran out before the page filled: continue from the last entry looked at.
        return { items, nextCursor: !exhausted && lastScanned ? encodeCursor(lastScanned) : null };
      }),
  };
}

function parseFlag(raw: string | null | undefined): CancelFlag | undefined {
  if (raw === null || raw === undefined) return undefined;
  try {
    const parsed = CancelFlagSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : { at: 0 };
  } catch {
    return { at: 0 }; // a flag we cannot read still means "cancelled"
  }
}
