/**
 * ../shared (reference schema, MT-Bench data) sits beside the checkout. Outside CI a missing copy
 * skips the tests that need it, with a message; with CI=true it fails the run, so CI can never
 * pass while silently skipping them.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const SHARED = resolve(import.meta.dirname, '../../../shared');
export const hasShared = (...parts: string[]) => existsSync(join(SHARED, ...parts));

/** true = skip. Throws (failing the test file) when CI=true and the data is missing. */
export function skipWithoutShared(present: boolean, what: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (present) return false;
  const msg = `${what} not found under ${SHARED}`;
  if (env.CI === 'true')
    throw new Error(
      `CI=true: ${msg}. Check out the shared reference data beside the repository (../shared); CI must not skip these tests.`,
    );
  console.warn(`skipping tests: ${msg} (with CI=true this fails the run)`);
  return true;
}
