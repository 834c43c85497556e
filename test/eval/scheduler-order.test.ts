import { describe, expect, it } from 'vitest';
import { runEvaluation } from '../../src/eval/index.js';
import type { ChatRequest } from '../../src/eval/ports.js';
import { scriptedClient } from './support.js';
import { qOf, syntheticBenchmark } from './synthetic.js';

/** Calls the test finishes by hand, in the order it chooses; `reached(n)` waits for the n-th call. */
function gate() {
  const open: Array<{ req: ChatRequest; finish: () => void }> = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let count = 0;
  const s = scriptedClient(
    (req) =>
      new Promise<string>((resolve) => {
        count += 1;
        open.push({
          req,
          finish: () =>
            resolve(
              req.messages.some((m) => m.content.startsWith('sys:'))
                ? 'Rating: [[6]]'
                : `answer ${req.messages.length}`,
            ),
        });
        for (const w of waiters.filter((x) => count >= x.n)) w.resolve();
      }),
  );
  return {
    ...s,
    reached: (n: number) =>
      count >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    /** Finish the open call for question q, turn t (t = 1 + number of earlier assistant turns). */
    finish(q: number, t: number) {
      const i = open.findIndex(
        (o) =>
          qOf(o.req.messages.at(-1)!.content) === q &&
          o.req.messages.filter((m) => m.role === 'assistant').length === t - 1,
      );
      if (i < 0) throw new Error(`no open call for question ${q} turn ${t}`);
      open.splice(i, 1)[0]!.finish();
    },
    finishAll() {
      for (const o of open.splice(0)) o.finish();
    },
  };
}

/** [question, turn] of the n-th candidate request (1-based). */
const nth = (calls: Array<{ req: ChatRequest }>, n: number) => {
  const req = calls[n - 1]!.req;
  return [qOf(req.messages.at(-1)!.content), req.messages.filter((m) => m.role === 'assistant').length + 1];
};

async function scenario(judgeBusy: boolean) {
  const cand = gate();
  // A judge that finishes nothing while the test looks: its backlog is what the scheduler sees.
  const judge = gate();
  const run = runEvaluation({
    benchmark: { ...syntheticBenchmark(1), questions: syntheticBenchmark(1).questions.slice(0, 6) },
    candidate: { client: cand.client, model: 'cand', concurrency: 2 },
    judge: { client: judge.client, model: 'judge', concurrency: judgeBusy ? 2 : 4 },
  });
  await cand.reached(2); // turn 1 of questions 1 and 2 in flight, 3..6 queued
  cand.finish(1, 1);
  cand.finish(2, 1);
  await cand.reached(4); // turn 1 of 3 and 4 took the slots; turn 2 of 1 and 2 are now queued
  await judge.reached(2); // both turn-1 judgments are with the judge
  cand.finish(3, 1); // one slot frees: which waiter gets it?
  await cand.reached(5);
  const fifth = nth(cand.calls, 5);
  // let everything finish so the run ends cleanly
  const drain = setInterval(() => {
    cand.finishAll();
    judge.finishAll();
  }, 1);
  try {
    await run;
  } finally {
    clearInterval(drain);
  }
  return fifth;
}

describe('scheduler order', () => {
  it('sends an answered question’s turn 2 before a new turn 1 when the judge would otherwise run dry', async () => {
    // judge concurrency 4 with 2 judgments in flight: it has room, so turn 2 of question 1 goes next
    expect(await scenario(false)).toEqual([1, 2]);
  });

  it('keeps turn 1 first while the judge is saturated (turn 1 unlocks more work later)', async () => {
    // judge concurrency 2 with 2 judgments in flight: no idle judge, so the next new question starts
    expect(await scenario(true)).toEqual([5, 1]);
  });
});
