/**
 * `evalhook eval`: one MT-Bench run from the command line, no Redis. Answers and judgments are
 * appended to <out>/records.jsonl as they complete, so rerunning the same command resumes.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { BuiltinBenchmark } from '../benchdata/index.js';
import { createError } from '../errors.js';
import { isEndpointError } from '../eval/errors.js';
import type { EvalStore } from '../eval/ports.js';
import type { EvalProgress, EvalRecord } from '../eval/types.js';
import { judgePrices } from '../judge-prices.js';

const USAGE = `usage: evalhook eval --model-base-url URL --model NAME --judge-base-url URL --judge-model NAME [options]
  --bench mt-bench|japanese-mt-bench   benchmark (default mt-bench)
  --data-dir DIR                       local FastChat-layout data (default $MTBENCH_DATA_DIR, else pinned download)
  --cache-dir DIR                      where downloaded data is cached (default ~/.cache/evalhook)
  --reference NAME                     reference-answer set (e.g. gpt-4, gpt-4-0125-preview)
  --out DIR                            write FastChat files + summary.json; also resumes from DIR/records.jsonl
  --concurrency N                      parallel candidate calls (default 8)
  --judge-concurrency N                parallel judge calls (default 8)
  --system-prompt TEXT                 system message for the candidate
  --structured                         structured-output (JSON schema) judge
  --parse-retries N                    re-ask the judge N times when no score can be parsed (default 0)
  --baseline FILE                      FastChat model_answer jsonl: pairwise-baseline mode against it
  --timeout-ms N                       per-call timeout (default 300000)
  --api-key-env NAME                   env var holding the candidate key (default INFERENCE_API_KEY, then OPENAI_API_KEY)
  --judge-api-key-env NAME             env var holding the judge key (default JUDGE_API_KEY, then OPENAI_API_KEY)
API keys are read from the environment only. The summary JSON is the last line of stdout.`;

export interface EvalCommandIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

const UsageError = createError('EVALHOOK_ERR_USAGE', 'UsageError');

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || (n === 0 && name !== 'parse-retries'))
    throw new UsageError(
      `--${name} must be a ${name === 'parse-retries' ? 'non-negative' : 'positive'} integer, got "${raw}"`,
    );
  return n;
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      bench: { type: 'string', default: 'mt-bench' },
      'model-base-url': { type: 'string' },
      model: { type: 'string' },
      'judge-base-url': { type: 'string' },
      'judge-model': { type: 'string' },
      'data-dir': { type: 'string' },
      'cache-dir': { type: 'string' },
      reference: { type: 'string' },
      out: { type: 'string' },
      concurrency: { type: 'string' },
      'judge-concurrency': { type: 'string' },
      'system-prompt': { type: 'string' },
      structured: { type: 'boolean', default: false },
      'parse-retries': { type: 'string' },
      baseline: { type: 'string' },
      'timeout-ms': { type: 'string' },
      'api-key-env': { type: 'string' },
      'judge-api-key-env': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  return values;
}

/** Appends records to a JSONL file; on load, unreadable lines are skipped (the engine re-validates). */
function fileStore(path: string): EvalStore {
  return {
    async load() {
      if (!existsSync(path)) return [];
      const out: EvalRecord[] = [];
      for (const line of (await readFile(path, 'utf8')).split('\n')) {
        if (!line.trim()) continue;
        try {
          out.push(JSON.parse(line) as EvalRecord);
        } catch {
          // a line cut short by a crash: that call is simply redone
        }
      }
      return out;
    },
    async save(record) {
      await appendFile(path, `${JSON.stringify(record)}\n`);
    },
  };
}

function progressBar(io: EvalCommandIO): ((p: EvalProgress) => void) | undefined {
  if (!io.stderr.isTTY) return undefined;
  let last = 0;
  return (p) => {
    const done = p.answersDone + p.judgmentsDone;
    const total = p.answersTotal + p.judgmentsTotal;
    const t = Date.now();
    if (t - last < 100 && done !== total) return; // keep the terminal calm
    last = t;
    const width = 30;
    const fill = total ? Math.round((done / total) * width) : 0;
    io.stderr.write(
      `\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] answers ${p.answersDone}/${p.answersTotal} judgments ${p.judgmentsDone}/${p.judgmentsTotal}${p.invalid ? ` invalid ${p.invalid}` : ''}${done === total ? '\n' : ''}`,
    );
  };
}

export async function evalCommand(
  argv: string[],
  io: EvalCommandIO = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  let v: ReturnType<typeof parse>;
  let opts;
  try {
    v = parse(argv);
    if (v.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    for (const k of ['model-base-url', 'model', 'judge-base-url', 'judge-model'] as const)
      if (!v[k]) throw new UsageError(`--${k} is required`);
    if (v.bench !== 'mt-bench' && v.bench !== 'japanese-mt-bench')
      throw new UsageError(`--bench must be mt-bench or japanese-mt-bench, got "${v.bench}"`);
    for (const k of ['model-base-url', 'judge-base-url'] as const)
      if (!URL.canParse(v[k]!)) throw new UsageError(`--${k} is not a URL: "${v[k]}"`);
    opts = {
      concurrency: positiveInt('concurrency', v.concurrency, 8),
      judgeConcurrency: positiveInt('judge-concurrency', v['judge-concurrency'], 8),
      parseRetries: positiveInt('parse-retries', v['parse-retries'], 0),
      timeoutMs: positiveInt('timeout-ms', v['timeout-ms'], 300_000),
    };
  } catch (err) {
    io.stderr.write(`evalhook eval: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }

  const key = (flag: string | undefined, primary: string) =>
    flag ? io.env[flag] : (io.env[primary] ?? io.env.OPENAI_API_KEY);
  const candidateKey = key(v['api-key-env'], 'INFERENCE_API_KEY');
  const judgeKey = key(v['judge-api-key-env'], 'JUDGE_API_KEY');
  if (!judgeKey)
    io.stderr.write(
      'evalhook eval: no judge API key in the environment (JUDGE_API_KEY / OPENAI_API_KEY); calling without one\n',
    );

  // Loaded only now (not for --help or a usage error), all at once, while nothing else waits on them.
  const modules = Promise.all([
    import('../benchdata/index.js'),
    import('../eval/index.js'),
    import('../llm/openai-chat.js'),
  ]);
  modules.catch(() => undefined); // awaited below; an import failure is reported there
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  const signal = io.signal ? AbortSignal.any([io.signal, ac.signal]) : ac.signal;
  if (!io.signal) process.once('SIGINT', onSigint);
  try {
    const [{ loadBaselineAnswers, loadBenchmark }, { fastChatFiles, runEvaluation }, { createOpenAIChatClient }] =
      await modules;
    const bench = await loadBenchmark(v.bench as BuiltinBenchmark, {
      dataDir: v['data-dir'] ?? io.env.MTBENCH_DATA_DIR,
      cacheDir: v['cache-dir'] ?? join(io.env.XDG_CACHE_HOME ?? join(io.env.HOME ?? '.', '.cache'), 'evalhook'),
      reference: v.reference,
      fetch: io.fetch,
      signal,
    });
    const out = v.out ? resolve(v.out) : undefined;
    if (out) await mkdir(out, { recursive: true });
    const baseline = v.baseline ? await loadBaselineAnswers(v.baseline) : undefined;
    const result = await runEvaluation({
      benchmark: bench,
      candidate: {
        client: createOpenAIChatClient({
          baseURL: v['model-base-url']!,
          apiKey: candidateKey ?? 'none',
          role: 'candidate',
        }),
        model: v.model!,
        concurrency: opts.concurrency,
        systemPrompt: v['system-prompt'],
      },
      judge: {
        client: createOpenAIChatClient({ baseURL: v['judge-base-url']!, apiKey: judgeKey ?? 'none', role: 'judge' }),
        model: v['judge-model']!,
        concurrency: opts.judgeConcurrency,
        structured: v.structured,
        parseRetries: opts.parseRetries,
        prices: judgePrices({ model: v['judge-model']! }),
      },
      mode: baseline ? 'pairwise-baseline' : 'single',
      baseline,
      store: out ? fileStore(join(out, 'records.jsonl')) : undefined,
      signal,
      callTimeoutMs: opts.timeoutMs,
      onProgress: progressBar(io),
    });
    if (out) {
      for (const f of fastChatFiles(result)) {
        const path = join(out, f.path);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, f.content);
      }
    }
    io.stdout.write(`${JSON.stringify(result.summary)}\n`);
    return 0;
  } catch (err) {
    if (isEndpointError(err) && err.kind === 'aborted') {
      io.stderr.write('\nevalhook eval: interrupted; rerun with the same --out to resume\n');
      return 130;
    }
    io.stderr.write(`\nevalhook eval: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
