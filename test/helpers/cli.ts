/** `evalhook` as a child process (tsx, from the checkout), with its output collected. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './stack.js';

/** `preload`: more modules for node's --import, before the CLI loads. */
export function runCli(args: string[], env: Record<string, string> = {}, preload: string[] = []) {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', ...preload.flatMap((m) => ['--import', m]), join(REPO, 'src/cli/main.ts'), ...args],
    {
      cwd: REPO,
      // Only what the test gives: no tokens leak in from the developer's shell.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return { proc, out: () => out, err: () => err };
}
