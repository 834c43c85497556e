/**
 * Simulated candidate/judge endpoints for the benchmarks, each in its own child process as real
 * endpoints would be remote: their CPU must not be billed to the process being measured.
 * `spawnEndpoint` forks this file with `--serve <kind> <spec as JSON>`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { outputTokens, type BatchingParams } from '../test/fakes/batching.js';
import { startFakeOpenAI, type ChatCompletionBody } from '../test/fakes/openai-server.js';

/** Fixed latency per call, or the continuous-batching model (test/fakes/batching.ts). */
export type EndpointSpec = { latencyMs: number } | { batching: BatchingParams };

export interface Endpoint {
  url: string;
  /** firstRequestAt: epoch ms of the first chat request (0 before any). */
  stats(): Promise<{ requests: number; maxInFlight: number; firstRequestAt: number }>;
  close(): void;
}

/** Output length of a candidate answer: stable per turn's question text, shaped like an 8B model's MT-Bench answers. */
export const candidateTokens = (question: string) => outputTokens(question, 64, 900);
/** A judgment's output length (explanation + rating). */
export const JUDGE_TOKENS = 250;

const tokensFor = (kind: string, body: ChatCompletionBody) =>
  kind === 'judge' ? JUDGE_TOKENS : candidateTokens(body.messages.filter((m) => m.role === 'user').at(-1)!.content);

const self = fileURLToPath(import.meta.url);

export function spawnEndpoint(kind: 'candidate' | 'judge', spec: EndpointSpec): Promise<Endpoint> {
  const child: ChildProcess = fork(self, ['--serve', kind, JSON.stringify(spec)], {
    execArgv: process.execArgv,
    stdio: 'inherit',
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (m) => {
      const { url } = m as { url: string };
      resolve({
        url,
        stats: () =>
          new Promise((res) => {
            child.once('message', (s) => res(s as { requests: number; maxInFlight: number; firstRequestAt: number }));
            child.send('stats');
          }),
        close: () => child.kill(),
      });
    });
  });
}

async function serve(kind: string, spec: EndpointSpec): Promise<void> {
  // Every candidate answer is distinct (a serial number), so no evaluation's judgments come from the
  // judge cache of another: benchmarks measure real judge traffic.
  let serial = 0;
  let firstRequestAt = 0;
  const fake = await startFakeOpenAI({
    ...('latencyMs' in spec
      ? { latencyMs: spec.latencyMs }
      : { batching: { params: spec.batching, tokens: (b) => tokensFor(kind, b) } }),
    respond: (b) =>
      kind === 'judge'
        ? 'The answer is adequate. Rating: [[7]]'
        : `Answer #${++serial} to: ${b.messages.at(-1)!.content.slice(0, 200)}`,
  });
  // resolved the moment the first request arrives (respond() only runs after the latency)
  void fake.waitForRequests(1).then(() => (firstRequestAt = Date.now()));
  process.on('message', (m) => {
    if (m === 'stats') process.send!({ requests: fake.requests.length, maxInFlight: fake.maxInFlight, firstRequestAt });
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ url: fake.url });
}

if (process.argv[1] === self && process.argv[2] === '--serve')
  await serve(process.argv[3]!, JSON.parse(process.argv[4]!) as EndpointSpec);
