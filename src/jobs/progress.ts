/**
 * Keeps job.progress (stage, counts, stage timings) current without writing Redis on every record:
 * stage changes write at once, count changes at most every `intervalMs`.
 */
import type { EvalProgress } from '../eval/types.js';
import { initialProgress, type EvaluationProgress, type Stage } from './job-data.js';

export interface ProgressSink {
  updateProgress(p: EvaluationProgress): Promise<void>;
}

export class ProgressTracker {
  private state: EvaluationProgress;
  private timer: NodeJS.Timeout | undefined;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly sink: ProgressSink,
    initial: Partial<EvaluationProgress> | undefined,
    private readonly intervalMs = 500,
  ) {
    this.state = { ...initialProgress(), ...initial };
  }

  get current(): EvaluationProgress {
    return this.state;
  }

  async stage(stage: Stage, extra: Partial<EvaluationProgress> = {}): Promise<void> {
    if (this.state.stage === stage && Object.keys(extra).length === 0) return;
    this.state = { ...this.state, ...extra, stage, stages: { ...this.state.stages, [stage]: Date.now() } };
    await this.flush();
  }

  set(extra: Partial<EvaluationProgress>): Promise<void> {
    this.state = { ...this.state, ...extra };
    return this.flush();
  }

  counts(p: EvalProgress): void {
    this.state = { ...this.state, ...p };
    if (p.answersTotal > 0 && p.answersDone >= p.answersTotal && this.state.stage === 'generating') {
      void this.stage('judging');
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.intervalMs);
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const snapshot = this.state;
    // Serialise writes so an older snapshot never lands after a newer one.
    this.pending = this.pending.then(() => this.sink.updateProgress(snapshot)).catch(() => undefined);
    await this.pending;
  }
}
