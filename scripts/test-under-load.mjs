#!/usr/bin/env node
/**
 * npm run test:under-load — the whole suite (`npm test`) while a child process spins one core at
 * 100 %: on the 2-core machines the suite must pass on, that leaves it one core. Extra arguments go
 * to vitest (e.g. a test path). Exits with the suite's status.
 */
import { spawn } from 'node:child_process';

const burner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
const stop = () => burner.kill('SIGKILL');
process.on('exit', stop);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
process.stderr.write(`test:under-load: CPU burner pid ${burner.pid} is spinning one core\n`);

const args = process.argv.slice(2);
const suite = spawn('npm', ['test', ...(args.length ? ['--', ...args] : [])], { stdio: 'inherit' });
suite.on('exit', (code, signal) => {
  stop();
  process.exit(code ?? (signal ? 1 : 0));
});
