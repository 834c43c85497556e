/**
 * Simulated candidate/judge endpoints for the benchmarks, each in its own child process as real
 * endpoints would be remote: their CPU must not be billed to the process being measured.
 * `spawnEndpoint` forks this file with `--serve <kind> <latencyMs>`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../test/fakes/openai-server.js';

export interface Endpoint {
  url: string;
  stats(): Promise<{ requests: number; maxInFlight: number }>;
  close(): void;
}

const self = fileURLToPath(import.meta.url);

export function spawnEndpoint(kind: 'candidate' | 'judge', latencyMs: number): Promise<Endpoint> {
  const child: ChildProcess = fork(self, ['--serve', kind, String(latencyMs)], { execArgv: process.execArgv, stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('message', (m) => {
      const { url } = m as { url: string };
      resolve({
        url,
        stats: () =>
          new Promise((res) => {
            child.once('message', (s) => res(s as { requests: number; maxInFlight: number }));
            child.send('stats');
          }),
        close: () => child.kill(),
      });
    });
  });
}

async function serve(kind: string, latencyMs: number): Promise<void> {
  // Every candidate answer is distinct (a serial number), so no evaluation's judgments come from the
  // judge cache of another: benchmarks measure real judge traffic.
  let serial = 0;
  const fake = await startFakeOpenAI({
    latencyMs,
    respond: (b) =>
      kind === 'judge' ? 'The answer is adequate. Rating: [[7]]' : `Answer #${++serial} to: ${b.messages.at(-1)!.content.slice(0, 200)}`,
  });
  process.on('message', (m) => {
    if (m === 'stats') process.send!({ requests: fake.requests.length, maxInFlight: fake.maxInFlight });
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ url: fake.url });
}

if (process.argv[1] === self && process.argv[2] === '--serve') await serve(process.argv[3]!, Number(process.argv[4]));
