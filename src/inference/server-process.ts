/**
 * One launched inference server: spawned without a shell, detached into its own process group so
 * the server and everything it forks (vLLM workers, tokenizer pools) can be killed together; its
 * output is streamed line by line and the last lines kept for failure reasons.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { sleep } from '../retry.js';

export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the command could not be started at all (ENOENT, EACCES). */
  spawnError?: string;
}

export interface ServerProcess {
  /** Process id, also the process group id. */
  readonly pid: number | undefined;
  /** Resolves once the main process has exited and its output is drained. */
  readonly exit: Promise<ServerExit>;
  hasExited(): boolean;
  lastLines(): string[];
  /** SIGTERM to the group, SIGKILL after the grace; resolves when no process of the group is left. Idempotent. */
  stop(reason: string): Promise<void>;
}

export interface StartOptions {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  log(line: string): void;
  /** How long after SIGTERM before SIGKILL. */
  graceMs: number;
  keepLines?: number;
}

const MAX_LINE = 2_000;

/** Groups still running, SIGKILLed synchronously if this worker exits without stopping them. */
const live = new Set<number>();
let exitHookInstalled = false;
function killLiveOnExit(): void {
  for (const pgid of live) signalGroup(pgid, 'SIGKILL');
}

function signalGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, sig);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

/** Whether any non-zombie process is left in the group (zombies are dead, just not reaped yet). */
export function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
  for (const pid of entries) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    } catch {
      // raced with the process exiting
    }
  }
  return false;
}

async function waitGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (groupAlive(pgid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

export function startServerProcess(opts: StartOptions): ServerProcess {
  const [cmd, ...args] = opts.argv;
  if (cmd === undefined) throw new Error('empty command');
  const keep = opts.keepLines ?? 50;
  const lines: string[] = [];
  const child = spawn(cmd, args, { env: opts.env, detached: true, shell: false, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid !== undefined) {
    live.add(pid);
    if (!exitHookInstalled) {
      process.on('exit', killLiveOnExit);
      exitHookInstalled = true;
    }
  }

  const onLine = (line: string) => {
    const l = line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line;
    lines.push(l);
    if (lines.length > keep) lines.shift();
    opts.log(l);
  };
  for (const stream of [child.stdout, child.stderr])
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine);

  let exited = false;
  const exit = new Promise<ServerExit>((resolve) => {
    let closed = false;
    child.once('close', () => (closed = true));
    child.once('error', (err) => {
      if (pid === undefined) {
        exited = true;
        resolve({ code: null, signal: null, spawnError: err.message });
      }
    });
    child.once('exit', (code, signal) => {
      exited = true;
      // Let buffered output through (its last lines are the crash reason), but do not wait on
      // a grandchild that still holds the pipes open.
      const done = () => resolve({ code, signal });
      if (closed) done();
      else {
        const t = setTimeout(done, 500);
        child.once('close', () => {
          clearTimeout(t);
          done();
        });
      }
    });
  });

  let stopping: Promise<void> | undefined;
  return {
    pid,
    exit,
    hasExited: () => exited,
    lastLines: () => [...lines],
    stop(reason) {
      stopping ??= (async () => {
        if (pid === undefined) return;
        if (groupAlive(pid)) {
          opts.log(`[evalhook] stopping the inference server (${reason}): SIGTERM to process group ${pid}`);
          signalGroup(pid, 'SIGTERM');
          if (!(await waitGone(pid, opts.graceMs))) {
            opts.log(
              `[evalhook] the inference server did not exit within ${opts.graceMs} ms of SIGTERM: SIGKILL to process group ${pid}`,
            );
            signalGroup(pid, 'SIGKILL');
            await waitGone(pid, 10_000);
          }
        }
        live.delete(pid);
        // The main process is gone; wait (bounded) for its exit event so callers see a settled state.
        await Promise.race([exit, new Promise((r) => setTimeout(r, 1_000))]);
      })();
      return stopping;
    },
  };
}
