/**
 * Servers left behind by a worker that died without stopping them (SIGKILL, OOM kill, power to the
 * process only). Each launched server is recorded on disk with its owner; a later launch on the same
 * host kills the process groups whose owner is gone, before it leases GPUs, so a dead worker's
 * server does not keep GPU memory that the (expired) lease says is free. Process identity is the pid
 * plus its start time, so a reused pid is never mistaken for the recorded process.
 */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const Proc = z.object({ pid: z.number().int().positive(), start: z.string().min(1) });
const ServerRecord = z.object({ host: z.string(), owner: Proc, server: Proc, evaluationId: z.string() });
type ServerRecord = z.infer<typeof ServerRecord>;

/** Start time of a process (clock ticks since boot, /proc/<pid>/stat field 22); undefined when gone or no /proc. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

export interface ServerRegistry {
  record(pid: number, evaluationId: string): Promise<void>;
  forget(pid: number): Promise<void>;
  /** Kills orphaned server groups on this host; returns what it killed, for the job log. */
  reapOrphans(): Promise<string[]>;
}

export function createServerRegistry(dir: string): ServerRegistry {
  const host = hostname();
  const safeHost = host.replace(/[^A-Za-z0-9_.-]/g, '_');
  const fileOf = (pid: number) => join(dir, `${safeHost}-${pid}.json`);
  const ownerStart = processStart(process.pid);

  return {
    async record(pid, evaluationId) {
      const start = processStart(pid);
      if (!start || !ownerStart) return; // no /proc: nothing reliable to record
      const rec: ServerRecord = {
        host,
        owner: { pid: process.pid, start: ownerStart },
        server: { pid, start },
        evaluationId,
      };
      await mkdir(dir, { recursive: true });
      await writeFile(fileOf(pid), JSON.stringify(rec));
    },
    async forget(pid) {
      await rm(fileOf(pid), { force: true });
    },
    async reapOrphans() {
      const killed: string[] = [];
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.startsWith(`${safeHost}-`) && n.endsWith('.json'))) {
        const path = join(dir, name);
        const parsed = ServerRecord.safeParse(
          await readFile(path, 'utf8').then(
            (t) => JSON.parse(t) as unknown,
            () => undefined,
          ),
        );
        if (!parsed.success) {
          await rm(path, { force: true });
          continue;
        }
        const { owner, server, evaluationId } = parsed.data;
        if (parsed.data.host !== host || processStart(owner.pid) === owner.start) continue; // its worker is alive
        if (processStart(server.pid) === server.start) {
          try {
            process.kill(-server.pid, 'SIGKILL');
            killed.push(
              `killed the orphaned inference server of ${evaluationId} (process group ${server.pid}; its worker ${owner.pid} is gone)`,
            );
          } catch {
            // already gone
          }
        }
        await rm(path, { force: true });
      }
      return killed;
    },
  };
}
