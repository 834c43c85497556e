/**
 * A continuous-batching latency model (vLLM-style): every admitted request is in the running batch;
 * a request spends `ttftMs` in prefill, then generates its tokens one decode step at a time, and a
 * decode step takes longer the more requests share the batch. Past `maxBatch`, requests queue (FIFO)
 * until a running one finishes. Pure and clock-agnostic: the fake server drives it with real time,
 * the benchmark with virtual time to compute the optimum and FastChat's schedule.
 *
 * Defaults are shaped like Llama-3.1-8B (bf16) on one H100 under vLLM: ~30 ms to the first token for
 * an MT-Bench prompt, ~7 ms per token for a lone sequence (~140 tokens/s), a step twice as long at 64
 * sequences (~4,500 tokens/s in aggregate), and vLLM's default max_num_seqs of 256.
 */
export interface BatchingParams {
  ttftMs: number;
  /** Decode time per token with one sequence in the batch. */
  perTokenMs: number;
  /** Sequences in the batch at which the per-token time has doubled (it grows linearly). */
  saturation: number;
  /** Most sequences in the batch; more wait in a queue. */
  maxBatch: number;
}

export const H100_8B: BatchingParams = { ttftMs: 30, perTokenMs: 7, saturation: 64, maxBatch: 256 };

/** Scales every duration (benchmarks run a real-shaped schedule in less wall time). */
export function scaled(p: BatchingParams, factor: number): BatchingParams {
  return { ...p, ttftMs: p.ttftMs * factor, perTokenMs: p.perTokenMs * factor };
}

interface Seq {
  id: number;
  prefillUntil: number;
  remaining: number;
}

export class BatchingModel {
  private t = 0;
  private readonly queue: Array<{ id: number; tokens: number }> = [];
  private readonly running: Seq[] = [];
  constructor(private readonly p: BatchingParams) {}

  /** Per-token time with `n` sequences in the batch. */
  stepMs(n: number): number {
    return this.p.perTokenMs * (1 + Math.max(0, n - 1) / this.p.saturation);
  }

  get inFlight(): number {
    return this.running.length + this.queue.length;
  }

  /** A request arrives at `now` wanting `tokens` output tokens. Returns ids finished by `now`. */
  add(id: number, tokens: number, now: number): number[] {
    const done = this.advance(now);
    this.queue.push({ id, tokens: Math.max(1, tokens) });
    this.admit();
    return done;
  }

  /** When the next request finishes or leaves prefill (undefined when idle). */
  nextEventAt(): number | undefined {
    let next: number | undefined;
    const step = this.stepMs(this.running.length);
    for (const s of this.running) {
      const at = s.prefillUntil > this.t ? s.prefillUntil : this.t + s.remaining * step;
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  /** Runs the model to `now`; returns the ids that finished, in order. */
  advance(now: number): number[] {
    const done: number[] = [];
    for (;;) {
      const e = this.nextEventAt();
      const to = e === undefined || e > now ? now : e;
      this.decode(to);
      if (to === now && (e === undefined || e > now)) break;
      // finished: less than a microsecond of work left (float rounding never leaves an event at `t`)
      const step = this.stepMs(this.running.length);
      const finished = this.running.filter((s) => s.prefillUntil <= this.t && s.remaining * step <= 1e-3);
      for (const s of finished) {
        this.running.splice(this.running.indexOf(s), 1);
        done.push(s.id);
      }
      this.admit();
    }
    return done;
  }

  private decode(to: number): void {
    if (to <= this.t) return;
    const step = this.stepMs(this.running.length);
    for (const s of this.running) {
      const from = Math.max(this.t, s.prefillUntil);
      if (to > from) s.remaining = Math.max(0, s.remaining - (to - from) / step);
    }
    this.t = to;
  }

  private admit(): void {
    while (this.running.length < this.p.maxBatch && this.queue.length) {
      const q = this.queue.shift()!;
      this.running.push({ id: q.id, prefillUntil: this.t + this.p.ttftMs, remaining: q.tokens });
    }
  }
}

/** A stable pseudo-random output length for a prompt, in [min, max] (FNV-1a of the text). */
export function outputTokens(text: string, min: number, max: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return min + (h % (max - min + 1));
}
