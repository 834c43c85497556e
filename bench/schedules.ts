/**
 * Reference schedules for bench:eval, computed in virtual time on the same continuous-batching model
 * the fake endpoints run (test/fakes/batching.ts), so they are exact for that model:
 * - optimum: every request in flight as early as its dependencies allow (all turn-1 answers at 0,
 *   each turn 2 and each judgment the moment its input exists), no concurrency limit anywhere;
 * - FastChat: gen_api_answer.py --parallel N (one worker per question, its turns in sequence), then
 *   gen_judgment.py --parallel N over the 160 single-mode matches.
 */
import { BatchingModel, type BatchingParams } from '../test/fakes/batching.js';

export interface Job {
  q: number;
  turn: number;
  role: 'candidate' | 'judge';
}

export interface ScheduleInput {
  /** Per question, each turn's question text (drives the answer length). */
  questions: string[][];
  candidate: BatchingParams;
  judge: BatchingParams;
  candidateTokens: (question: string) => number;
  judgeTokens: number;
}

/**
 * Runs both models in virtual time. `onFinish` receives each finished job and returns the jobs to
 * submit next (at that moment); `initial` are submitted at 0. Returns the time the last job ends.
 */
function simulate(input: ScheduleInput, initial: Job[], onFinish: (job: Job) => Job[]): number {
  const models = { candidate: new BatchingModel(input.candidate), judge: new BatchingModel(input.judge) };
  const jobs = new Map<number, Job>();
  let nextId = 0;
  let t = 0;
  const finished: Array<[number, Job]> = [];
  const submit = (job: Job) => {
    const id = nextId++;
    jobs.set(id, job);
    const tokens =
      job.role === 'judge' ? input.judgeTokens : input.candidateTokens(input.questions[job.q]![job.turn - 1]!);
    for (const done of models[job.role].add(id, tokens, t)) finished.push([t, jobs.get(done)!]);
  };
  initial.forEach(submit);
  for (;;) {
    while (finished.length) onFinish(finished.shift()![1]).forEach(submit);
    const next = [models.candidate.nextEventAt(), models.judge.nextEventAt()].filter(
      (x): x is number => x !== undefined,
    );
    if (!next.length) return t;
    t = Math.min(...next);
    for (const role of ['candidate', 'judge'] as const)
      for (const done of models[role].advance(t)) finished.push([t, jobs.get(done)!]);
  }
}

export function optimumMs(input: ScheduleInput): number {
  const turns = (q: number) => input.questions[q]!.length;
  return simulate(
    input,
    input.questions.map((_, q) => ({ q, turn: 1, role: 'candidate' as const })),
    (job) => {
      if (job.role === 'judge') return [];
      const next: Job[] = [{ ...job, role: 'judge' }];
      if (job.turn < turns(job.q)) next.push({ q: job.q, turn: job.turn + 1, role: 'candidate' });
      return next;
    },
  );
}

export function fastChatMs(input: ScheduleInput, parallel: number): number {
  // generation: `parallel` workers, each takes the next question and runs its turns one after another
  let nextQuestion = 0;
  let answered = 0;
  const totalTurns = input.questions.reduce((n, t) => n + t.length, 0);
  const generation = simulate(
    input,
    Array.from({ length: Math.min(parallel, input.questions.length) }, () => ({
      q: nextQuestion++,
      turn: 1,
      role: 'candidate' as const,
    })),
    (job) => {
      answered += 1;
      if (job.turn < input.questions[job.q]!.length) return [{ ...job, turn: job.turn + 1 }];
      return nextQuestion < input.questions.length ? [{ q: nextQuestion++, turn: 1, role: 'candidate' }] : [];
    },
  );
  if (answered !== totalTurns) throw new Error('FastChat schedule: not every turn was answered');
  // judging: `parallel` workers over every (question, turn) match
  const matches: Job[] = input.questions.flatMap((t, q) =>
    t.map((_, i) => ({ q, turn: i + 1, role: 'judge' as const })),
  );
  let nextMatch = Math.min(parallel, matches.length);
  const judging = simulate(input, matches.slice(0, nextMatch), () =>
    nextMatch < matches.length ? [matches[nextMatch++]!] : [],
  );
  return generation + judging;
}
