/**
 * The fake's file_stream endpoint (B2): history lines at offsets (re-sends replace, so retries are
 * idempotent), the whole summary as the last line, output.log, `uploaded`, heartbeats, and
 * `complete` + `exitcode` deciding finished vs failed.
 */
import type { FakeRun } from './wandb-state.js';

interface Chunk {
  offset: number;
  content: string[];
}

function chunk(v: unknown): Chunk | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const c = v as { offset?: unknown; content?: unknown };
  if (typeof c.offset !== 'number' || !Array.isArray(c.content) || !c.content.every((x) => typeof x === 'string')) return undefined;
  return { offset: c.offset, content: c.content as string[] };
}

const KNOWN = new Set(['files', 'uploaded', 'complete', 'exitcode', 'preempting', 'dropped']);
const FILES = new Set(['wandb-history.jsonl', 'wandb-summary.json', 'output.log', 'wandb-events.jsonl']);

export function handleFileStream(run: FakeRun, raw: Buffer): { status: number; body: unknown } {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  } catch {
    return { status: 400, body: { error: 'body is not JSON' } };
  }
  const unknown = Object.keys(body).filter((k) => !KNOWN.has(k));
  if (unknown.length) return { status: 400, body: { error: `unknown file_stream fields: ${unknown.join(', ')}` } };
  if (Object.keys(body).length === 0) {
    run.heartbeats += 1;
    return { status: 200, body: { exitcode: null, limits: {} } };
  }
  const files = (body.files ?? {}) as Record<string, unknown>;
  for (const [name, v] of Object.entries(files)) {
    if (!FILES.has(name)) return { status: 400, body: { error: `unknown stream file ${name}` } };
    const c = chunk(v);
    if (!c) return { status: 400, body: { error: `${name} needs {offset: number, content: string[]}` } };
    const lines = c.content.map((l) => (name === 'output.log' ? l : (JSON.parse(l) as Record<string, unknown>)));
    if (name === 'wandb-history.jsonl') {
      if (c.offset > run.history.length) return { status: 400, body: { error: `history offset ${c.offset} leaves a gap (have ${run.history.length})` } };
      lines.forEach((row, i) => (run.history[c.offset + i] = row as Record<string, unknown>));
    } else if (name === 'wandb-summary.json') {
      // The backend only reads the last line: the whole summary.
      const last = lines.at(-1);
      if (last) run.summary = last as Record<string, unknown>;
    } else if (name === 'output.log') {
      lines.forEach((l, i) => (run.logs[c.offset + i] = l as string));
    }
  }
  if (Array.isArray(body.uploaded)) {
    for (const p of body.uploaded) {
      const f = run.files.get(String(p));
      if (f?.content) f.uploaded = true;
    }
  }
  if (body.complete === true) {
    const code = typeof body.exitcode === 'number' ? body.exitcode : 0;
    run.exitcode = code;
    run.state = code === 0 ? 'finished' : 'failed';
  } else if (Object.keys(files).length && run.state !== 'running') {
    // Writing to a finished run resurrects it (wandb/apis/public/runs.py comment).
    run.state = 'running';
  }
  return { status: 200, body: { exitcode: null, limits: {} } };
}
