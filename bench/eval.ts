/**
 * npm run bench:eval — a full MT-Bench (80 questions, 160 answers, 160 judgments) through the real
 * engine and openai adapter against two fake endpoints with fixed latency, compared with (a) the
 * lower bound the concurrency caps allow and (b) FastChat's phase-by-phase schedule (all answers,
 * each question's two turns in one worker, then all judgments) modelled at the same parallelism.
 * The fake endpoints run in child processes (bench/endpoints.ts).
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBenchmark } from '../src/benchdata/index.js';
import { runEvaluation } from '../src/eval/index.js';
import { createOpenAIChatClient } from '../src/llm/openai-chat.js';
import { spawnEndpoint } from './endpoints.js';

// Seconds-scale latencies like real LLM endpoints; the fixed per-call HTTP/SDK cost then stays small
// against them even on a loaded box. Override with BENCH_* env vars to explore other shapes.
const CANDIDATE_LATENCY_MS = Number(process.env.BENCH_CANDIDATE_LATENCY_MS ?? 3000);
const JUDGE_LATENCY_MS = Number(process.env.BENCH_JUDGE_LATENCY_MS ?? 1500);
const CANDIDATE_CAP = Number(process.env.BENCH_CANDIDATE_CAP ?? 16);
const JUDGE_CAP = Number(process.env.BENCH_JUDGE_CAP ?? 8);
const TARGET_RATIO = 1.2;
const TARGET_VS_FASTCHAT = 0.6;

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = path.resolve(repo, '../shared/mt-bench');

/**
 * No schedule can beat any of: the candidate's answers done in ceil(A/cap) waves, then the last
 * answer's judgment; the judge's waves, which cannot start before the first answer exists; one
 * question's critical path (turn 1 -> turn 2 -> its judgment).
 */
function lowerBoundMs(answers: number, judgments: number): number {
  const candidateBound = Math.ceil(answers / CANDIDATE_CAP) * CANDIDATE_LATENCY_MS + JUDGE_LATENCY_MS;
  const judgeBound = CANDIDATE_LATENCY_MS + Math.ceil(judgments / JUDGE_CAP) * JUDGE_LATENCY_MS;
  const chain = 2 * CANDIDATE_LATENCY_MS + JUDGE_LATENCY_MS;
  return Math.max(candidateBound, judgeBound, chain);
}

/** gen_api_answer.py --parallel N (one worker per question, turns sequential), then gen_judgment.py --parallel M. */
function fastChatScheduleMs(questions: number, turns: number, judgments: number): number {
  const generation = Math.ceil(questions / CANDIDATE_CAP) * turns * CANDIDATE_LATENCY_MS;
  const judging = Math.ceil(judgments / JUDGE_CAP) * JUDGE_LATENCY_MS;
  return generation + judging;
}

async function main(): Promise<number> {
  if (!existsSync(path.join(dataDir, 'question.jsonl'))) {
    process.stderr.write(`bench:eval needs the MT-Bench data in ${dataDir} (not found); nothing was run\n`);
    return 2;
  }
  const benchmark = await loadBenchmark('mt-bench', { dataDir, cacheDir: path.join(tmpdir(), 'evalhook-bench-cache') });
  const [candidate, judge] = await Promise.all([spawnEndpoint('candidate', CANDIDATE_LATENCY_MS), spawnEndpoint('judge', JUDGE_LATENCY_MS)]);
  try {
    const candidateClient = createOpenAIChatClient({ baseURL: candidate.url, apiKey: 'bench', role: 'candidate' });
    const judgeClient = createOpenAIChatClient({ baseURL: judge.url, apiKey: 'bench', role: 'judge' });
    // One untimed call per endpoint: module loading (tsx compiles lazily-imported SDK code on first
    // use) and the first TCP connect are process start-up costs, not per-evaluation costs.
    const warmup = { model: 'warmup', messages: [{ role: 'user' as const, content: 'warm up' }], temperature: 0, max_tokens: 1 };
    await Promise.all([candidateClient.complete(warmup), judgeClient.complete(warmup)]);
    const started = performance.now();
    const result = await runEvaluation({
      benchmark,
      candidate: { client: candidateClient, model: 'bench-candidate', concurrency: CANDIDATE_CAP },
      judge: { client: judgeClient, model: 'bench-judge', concurrency: JUDGE_CAP },
    });
    const wallMs = performance.now() - started;
    const [cs, js] = await Promise.all([candidate.stats(), judge.stats()]);
    const c = result.summary.counts;
    const answers = c.answers;
    const bound = lowerBoundMs(answers, c.judgments);
    const fastchat = fastChatScheduleMs(benchmark.questions.length, 2, c.judgments);
    const ratio = wallMs / bound;
    const vsFastChat = wallMs / fastchat;
    const report = {
      wallSeconds: +(wallMs / 1000).toFixed(3),
      lowerBoundSeconds: bound / 1000,
      ratio: +ratio.toFixed(3),
      fastchatScheduleSeconds: fastchat / 1000,
      ratioToFastChat: +vsFastChat.toFixed(3),
      targets: { ratio: `<= ${TARGET_RATIO}`, ratioToFastChat: `<= ${TARGET_VS_FASTCHAT}`, met: ratio <= TARGET_RATIO && vsFastChat <= TARGET_VS_FASTCHAT },
      calls: { candidate: cs.requests - 1, judge: js.requests - 1, warmupCallsExcluded: 2, engineJudgeCalls: c.judgeCalls, engineCandidateCalls: c.candidateCalls },
      maxInFlight: { candidate: cs.maxInFlight, judge: js.maxInFlight },
      setup: { candidateLatencyMs: CANDIDATE_LATENCY_MS, judgeLatencyMs: JUDGE_LATENCY_MS, candidateConcurrency: CANDIDATE_CAP, judgeConcurrency: JUDGE_CAP, questions: benchmark.questions.length },
      average: result.summary.scores.average,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.targets.met ? 0 : 1;
  } finally {
    candidate.close();
    judge.close();
  }
}

process.exitCode = await main();
