import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];

/** A fresh temp directory, removed after the test file (only directories made here are removed). */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `evalhook-${name}-`));
  made.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});
