/**
 * One ordered file_stream sender per run (B2), as wandb-core keeps it
 * (core/internal/filestream/transmitloop.go, transmitchan.go, collectloop.go, updateexit.go):
 * everything a run sends (history rows, the summary, console lines, `uploaded`, heartbeats, then
 * `complete`) goes through one queue; one request is in flight at a time, and what queues up
 * meanwhile is merged into the next request. A heartbeat `{}` goes only when nothing else is queued,
 * heartbeats stop once the exit is queued, and nothing is posted after `complete`.
 *
 * Retries: the SDK's file_stream budget (about a week at 2–60 s, Retry-After honoured) while some
 * evaluation attempt holds the run; the request carrying `complete` uses the GraphQL budget, so a run
 * W&B cannot finish fails the attempt (retryable) and the job's next attempt finishes it. With no
 * holder left the sender pauses and keeps its queue: a later open in this process carries on.
 */
import { WandbError, type WandbClient } from './client.js';
import { withRetry } from '../retry.js';
import { FILESTREAM_RETRY, GRAPHQL_RETRY, type RetryPolicy } from './retry.js';

export interface RunPath {
  entity: string;
  project: string;
  run: string;
}

export interface StreamOptions {
  /** Heartbeat period while the run is held (B2: at least every 30 s); 0 disables. */
  heartbeatMs: number;
  retry?: Partial<RetryPolicy>;
  /** Budget of the request that carries `complete`. */
  finalRetry?: Partial<RetryPolicy>;
}

/** What one update adds; merged with whatever else is queued. */
export interface StreamUpdate {
  history?: Array<Record<string, unknown>>;
  summary?: Record<string, unknown>;
  logs?: string[];
  uploaded?: string[];
  /** `complete` with this exit code: the last thing this run ever sends. */
  exitcode?: number;
}

interface Entry extends StreamUpdate {
  beat?: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

export class RunStream {
  /** Lines the server has (or will have once the queue drains): the next history `_step` / log line. */
  private historySent: number;
  private logSent: number;
  private queue: Entry[] = [];
  private sending = false;
  private holders = 0;
  private beat: NodeJS.Timeout | undefined;
  /** The exit is queued: heartbeats are over and only the final request may follow. */
  private exiting = false;
  /** `complete` was acknowledged. */
  closed = false;
  /** The run's summary as this process last sent it (the last row's values plus ours). */
  summary: Record<string, unknown> = {};
  private readonly retry: RetryPolicy;
  private readonly finalRetry: RetryPolicy;

  constructor(
    private readonly client: WandbClient,
    readonly path: RunPath,
    offsets: { history: number; log: number },
    private readonly opts: StreamOptions,
    private readonly onClosed: () => void = () => {},
  ) {
    this.historySent = offsets.history;
    this.logSent = offsets.log;
    this.retry = { ...FILESTREAM_RETRY, ...opts.retry };
    this.finalRetry = { ...GRAPHQL_RETRY, ...opts.finalRetry };
  }

  /** The `_step` the next queued history row gets. */
  get nextStep(): number {
    return this.historySent + this.queue.reduce((n, e) => n + (e.history?.length ?? 0), 0);
  }

  /** The output.log line the next queued console line gets. */
  get nextLogLine(): number {
    return this.logSent + this.queue.reduce((n, e) => n + (e.logs?.length ?? 0), 0);
  }

  get finished(): boolean {
    return this.closed || this.exiting;
  }

  /**
   * Line counts W&B reported on a reopen: lines another process (an earlier attempt's worker)
   * appended are not overwritten. Skipped while a request is in flight; it moves the counts itself.
   */
  sync(server: { history: number; log: number }): void {
    if (this.sending) return;
    this.historySent = Math.max(this.historySent, server.history);
    this.logSent = Math.max(this.logSent, server.log);
  }

  /** An evaluation attempt holds the run: heartbeats run and failed requests keep retrying. */
  hold(): void {
    this.holders += 1;
    if (this.holders === 1 && !this.finished && this.opts.heartbeatMs > 0) {
      // unref: a forgotten run must never keep the process alive.
      this.beat = setInterval(() => this.heartbeat(), this.opts.heartbeatMs).unref();
    }
    void this.pump();
  }

  /** The attempt is over: with no holder left, heartbeats stop and a failing request stops retrying. */
  release(): void {
    this.holders = Math.max(0, this.holders - 1);
    if (this.holders === 0) this.stopHeartbeat();
  }

  /** Queue an update; resolves once W&B acknowledged it. After the exit nothing more is accepted. */
  send(update: StreamUpdate): Promise<void> {
    if (this.finished)
      return Promise.reject(
        new WandbError(`W&B run ${this.path.run} is already finished; not posting to it again`, false),
      );
    if (update.exitcode !== undefined) {
      this.exiting = true;
      this.stopHeartbeat();
      this.queue = this.queue.filter((e) => !e.beat || (e.resolve(), false));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...update, resolve, reject });
      void this.pump();
    });
  }

  private heartbeat(): void {
    // B2: a heartbeat only when nothing else is waiting to go.
    if (this.sending || this.queue.length || this.finished) return;
    this.queue.push({ beat: true, resolve() {}, reject() {} });
    void this.pump();
  }

  private stopHeartbeat(): void {
    if (this.beat) clearInterval(this.beat);
    this.beat = undefined;
  }

  private async pump(): Promise<void> {
    if (this.sending || this.closed) return;
    this.sending = true;
    try {
      while (this.queue.length && !this.closed) {
        const batch = this.queue.slice();
        const final = batch.some((e) => e.exitcode !== undefined);
        const ok = await this.transmit(batch, final);
        if (ok === 'paused') return;
        if (ok === 'sent') {
          this.queue = this.queue.filter((e) => !batch.includes(e));
          for (const e of batch) {
            this.historySent += e.history?.length ?? 0;
            this.logSent += e.logs?.length ?? 0;
            e.resolve();
          }
          if (final) this.close();
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** One merged request, retried per budget. 'dropped' = given up (the entries were rejected). */
  private async transmit(batch: Entry[], final: boolean): Promise<'sent' | 'paused' | 'dropped'> {
    const body = this.body(batch);
    const policy = final ? this.finalRetry : this.retry;
    const beatsOnly = batch.every((e) => e.beat);
    let paused = false;
    try {
      await withRetry(() => this.client.fileStreamOnce(this.path, body), {
        policy,
        sleep: this.client.sleep,
        classify: (raw, retry) => {
          const d = this.client.classify('file_stream', raw);
          if (!d.retryable || retry >= policy.retries || beatsOnly) return { ...d, retryable: false };
          if (this.holders === 0) {
            this.client.log.warn(
              { run: this.path.run, err: d.error.message },
              'W&B file_stream paused: no evaluation holds the run; the queue waits for the next open',
            );
            paused = true;
            return { ...d, retryable: false };
          }
          return d;
        },
        onRetry: (d, retry, delayMs) => {
          const err = d.error as WandbError;
          this.client.log.warn(
            { run: this.path.run, attempt: retry + 1, status: err.status, delayMs },
            `W&B file_stream failed, retrying: ${err.message}`,
          );
        },
      });
      return 'sent';
    } catch (err) {
      if (paused) return 'paused';
      this.drop(batch, final, err as WandbError);
      return 'dropped';
    }
  }

  /**
   * Given up: a failed exit leaves the run open for the next attempt (its progress rows stay queued);
   * anything else is dropped with an error, like wandb-core's filestream after its budget.
   */
  private drop(batch: Entry[], final: boolean, err: WandbError): void {
    const gone = final ? batch.filter((e) => e.exitcode !== undefined || e.beat) : batch;
    if (final) this.exiting = false;
    this.queue = this.queue.filter((e) => !gone.includes(e));
    for (const e of gone) e.reject(err);
    const rows = gone.reduce((n, e) => n + (e.history?.length ?? 0), 0);
    if (!batch.every((e) => e.beat))
      this.client.log.error(
        { run: this.path.run, err: err.message, rows, final },
        'W&B file_stream gave up on a request',
      );
    if (final && this.holders > 0 && this.opts.heartbeatMs > 0 && !this.beat) {
      this.beat = setInterval(() => this.heartbeat(), this.opts.heartbeatMs).unref();
    }
  }

  private close(): void {
    this.closed = true;
    this.exiting = false;
    this.stopHeartbeat();
    this.onClosed();
  }

  /** Merge queued updates into one FileStreamRequest: contiguous lines at their offsets, the last summary. */
  private body(batch: Entry[]): Record<string, unknown> {
    const history = batch.flatMap((e) => e.history ?? []);
    const logs = batch.flatMap((e) => e.logs ?? []);
    const summary = batch.findLast((e) => e.summary)?.summary;
    const uploaded = [...new Set(batch.flatMap((e) => e.uploaded ?? []))];
    const exit = batch.find((e) => e.exitcode !== undefined);
    const files: Record<string, { offset: number; content: string[] }> = {};
    if (history.length)
      files['wandb-history.jsonl'] = { offset: this.historySent, content: history.map((r) => JSON.stringify(r)) };
    // The backend reads only the summary's last line: always the whole summary at line 0.
    if (summary) files['wandb-summary.json'] = { offset: 0, content: [JSON.stringify(summary)] };
    if (logs.length) files['output.log'] = { offset: this.logSent, content: logs };
    return {
      ...(Object.keys(files).length ? { files } : {}),
      ...(uploaded.length ? { uploaded } : {}),
      ...(exit ? { complete: true, exitcode: exit.exitcode } : {}),
    };
  }
}
