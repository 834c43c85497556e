/** One progress shape: the engine's counters are what the job progress stores and what the admin view replies. */
import { describe, expect, it } from 'vitest';
import { EvalProgress } from '../../src/eval/types.js';
import { EvaluationProgress, initialProgress } from '../../src/jobs/job-data.js';
import { ProgressTracker } from '../../src/jobs/progress.js';
import { EvaluationView, toView } from '../../src/jobs/views.js';

const counterNames = Object.keys(EvalProgress.shape).sort();
const job = (progress: unknown) => ({
  id: 'ev-1',
  data: {
    evaluationId: 'ev-1',
    profile: 'default',
    artifact: { name: 'e/p/c:v1' },
    trigger: { source: 'manual', eventType: 'MANUAL', receivedAt: 1 },
  },
  progress,
  returnvalue: null,
  timestamp: 1,
  attemptsMade: 0,
});

describe('progress counters', () => {
  it('the job progress and the admin view carry exactly the engine counters', () => {
    expect(
      Object.keys(EvaluationProgress.shape)
        .filter((k) => counterNames.includes(k))
        .sort(),
    ).toEqual(counterNames);
    expect(Object.keys(EvaluationView.shape.progress.shape).sort()).toEqual(counterNames);
  });

  it('a progress written before counting reads as zeros, and the view replies with the counters only', () => {
    expect(EvaluationProgress.parse({ stage: 'launching' })).toMatchObject({
      answersDone: 0,
      answersTotal: 0,
      judgmentsDone: 0,
      judgmentsTotal: 0,
      invalid: 0,
      stages: {},
    });
    const counts = { answersDone: 12, answersTotal: 80, judgmentsDone: 3, judgmentsTotal: 80, invalid: 1 };
    expect(toView(job({ stage: 'generating', ...counts, runUrl: 'u' }), 'active', undefined)?.progress).toEqual(counts);
    expect(toView(job(0), 'wait', undefined)?.progress).toEqual({
      answersDone: 0,
      answersTotal: 0,
      judgmentsDone: 0,
      judgmentsTotal: 0,
      invalid: 0,
    });
  });

  it('the tracker starts from the initial progress and takes the engine counters as they come', async () => {
    const written: EvaluationProgress[] = [];
    const tracker = new ProgressTracker({ updateProgress: async (p) => void written.push(p) }, undefined);
    expect(tracker.current).toEqual(initialProgress());
    tracker.counts({ answersDone: 1, answersTotal: 4, judgmentsDone: 0, judgmentsTotal: 4, invalid: 0 });
    await tracker.flush();
    expect(EvaluationProgress.parse(written.at(-1))).toMatchObject({
      stage: 'queued',
      answersDone: 1,
      answersTotal: 4,
    });
  });
});
