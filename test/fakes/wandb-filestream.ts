/**
 * The fake's file_stream endpoint (B2): history lines at offsets (re-sends replace, so retries are
 * idempotent), the whole summary as the last line, output.log lines at offsets, `uploaded`,
 * heartbeats, and `complete` + `exitcode` deciding finished vs failed. Every post lands in the run's
 * timeline. A post after `complete` would resurrect the run (wandb/apis/public/runs.py): the fake
 * refuses it and reports it through `onError`, so a test can assert that it never happens.
 */
import type { FakeRun, FileStreamEvent } from './wandb-state.js';

interface Chunk {
  offset: number;
  content: string[];
}

function chunk(v: unknown): Chunk | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const c = v as { offset?: unknown; content?: unknown };
  if (typeof c.offset !== 'number' || !Array.isArray(c.content) || !c.content.every((x) => typeof x === 'string'))
    return undefined;
  return { offset: c.offset, content: c.content as string[] };
}

const KNOWN = new Set(['files', 'uploaded', 'complete', 'exitcode', 'preempting', 'dropped']);
const FILES = new Set(['wandb-history.jsonl', 'wandb-summary.json', 'output.log', 'wandb-events.jsonl']);
const OK = { exitcode: null, limits: {} };

export function handleFileStream(
  run: FakeRun,
  raw: Buffer,
  at: number,
  onError: (message: string) => void,
): { status: number; body: unknown } {
  const event: FileStreamEvent = { status: 0, at, heartbeat: false };
  run.timeline.push(event);
  const answer = (status: number, body: unknown, error?: string) => {
    event.status = status;
    if (error) event.error = error;
    return { status, body };
  };
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    return answer(400, { error: 'body is not JSON' }, 'body is not JSON');
  }
  const unknown = Object.keys(body).filter((k) => !KNOWN.has(k));
  if (unknown.length)
    return answer(400, { error: `unknown file_stream fields: ${unknown.join(', ')}` }, 'unknown fields');
  event.heartbeat = Object.keys(body).length === 0;
  if (run.completed) {
    const message = `file_stream post to ${run.entity}/${run.project}/${run.name} after complete (exitcode ${run.exitcode}): this would resurrect the run`;
    onError(message);
    return answer(409, { error: message }, 'resurrection');
  }
  if (event.heartbeat) {
    run.heartbeats += 1;
    return answer(200, OK);
  }
  const files = (body.files ?? {}) as Record<string, unknown>;
  const parsed = new Map<string, Chunk>();
  for (const [name, v] of Object.entries(files)) {
    if (!FILES.has(name)) return answer(400, { error: `unknown stream file ${name}` }, 'unknown file');
    const c = chunk(v);
    if (!c) return answer(400, { error: `${name} needs {offset: number, content: string[]}` }, 'bad chunk');
    parsed.set(name, c);
  }
  const history = parsed.get('wandb-history.jsonl');
  if (history && history.offset > run.history.length)
    return answer(
      400,
      { error: `history offset ${history.offset} leaves a gap (have ${run.history.length})` },
      'history gap',
    );
  const log = parsed.get('output.log');
  if (log && log.offset > run.logs.length)
    return answer(400, { error: `output.log offset ${log.offset} leaves a gap (have ${run.logs.length})` }, 'log gap');
  if (history) {
    const rows = history.content.map((l) => JSON.parse(l) as Record<string, unknown>);
    rows.forEach((row, i) => (run.history[history.offset + i] = row));
    event.history = { offset: history.offset, rows };
  }
  const summary = parsed.get('wandb-summary.json');
  if (summary) {
    // The backend only reads the last line: the whole summary.
    const last = summary.content.at(-1);
    if (last) run.summary = event.summary = JSON.parse(last) as Record<string, unknown>;
  }
  if (log) {
    log.content.forEach((l, i) => (run.logs[log.offset + i] = l));
    event.log = { offset: log.offset, lines: log.content };
  }
  if (Array.isArray(body.uploaded)) {
    event.uploaded = body.uploaded.map(String);
    for (const p of event.uploaded) {
      const f = run.files.get(p);
      if (f?.content) f.uploaded = true;
    }
  }
  if (body.complete === true) {
    const code = typeof body.exitcode === 'number' ? body.exitcode : 0;
    Object.assign(event, { complete: true, exitcode: code });
    run.exitcode = code;
    run.state = code === 0 ? 'finished' : 'failed';
    run.completed = true;
  } else if (run.state !== 'running') {
    run.state = 'running';
  }
  return answer(200, OK);
}
