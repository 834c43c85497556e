/**
 * CI cannot pass by skipping (issue 14, item 12): with CI=true a missing ../shared fails .ci/run
 * before anything is installed, and fails the test files that would otherwise skip; outside CI
 * those tests skip with a message.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import { skipWithoutShared } from './helpers/shared.js';
import { REPO } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

it('.ci/run with CI=true fails with a clear message when ../shared is missing', () => {
  // A checkout with nothing beside it: <tmp>/repo/.ci/run and no <tmp>/shared.
  const root = tempDir('ci');
  const repo = join(root, 'repo');
  mkdirSync(join(repo, '.ci'), { recursive: true });
  copyFileSync(join(REPO, '.ci/run'), join(repo, '.ci/run'));
  // A stub redis-server on PATH so the script never tries to install one.
  const bin = join(root, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'redis-server'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(bin, 'redis-server'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` };
  const ci = spawnSync('bash', [join(repo, '.ci/run')], { env: { ...env, CI: 'true' }, encoding: 'utf8' });
  expect(ci.status).toBe(1);
  expect(ci.stderr).toContain('CI=true but ../shared (reference/ and mt-bench/) is missing');
  // The message comes before `npm ci`: nothing was installed.
  expect(ci.stdout).not.toMatch(/added \d+ packages/);
});

it('tests that need ../shared: CI=true fails them, elsewhere they skip with a message', () => {
  expect(() => skipWithoutShared(false, 'MT-Bench golden data', { CI: 'true' })).toThrow(
    /CI=true: MT-Bench golden data not found under .*shared.*CI must not skip/,
  );
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    expect(skipWithoutShared(false, 'MT-Bench golden data', {})).toBe(true);
    expect(warn).toHaveBeenCalledWith(
      expect.stringMatching(/skipping tests: MT-Bench golden data not found.*with CI=true this fails the run/),
    );
  } finally {
    warn.mockRestore();
  }
  expect(skipWithoutShared(true, 'anything', { CI: 'true' })).toBe(false);
});
