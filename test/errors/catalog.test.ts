import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BenchmarkDataError } from '../../src/benchdata/load.js';
import { CheckpointError } from '../../src/checkpoint/errors.js';
import { ConfigError } from '../../src/config.js';
import { EndpointError } from '../../src/eval/errors.js';
import { CATALOG, EvalhookError, FinalError, isConnectionError, type ErrorCode } from '../../src/errors.js';
import { InferenceError, finalError, transientError } from '../../src/inference/errors.js';
import { KubeApiError } from '../../src/inference/kubernetes/api.js';
import { CancelledError } from '../../src/jobs/cancel.js';
import { classifyFailure } from '../../src/jobs/failures.js';
import {
  EvaluationConflictError,
  EvaluationNotFoundError,
  OperationTimeoutError,
  QueueFullError,
  QueueUnavailableError,
} from '../../src/jobs/producer.js';
import { InvalidCursorError } from '../../src/jobs/views.js';
import { WandbError } from '../../src/wandb/client.js';
import { repoRoot as root, sourceFiles } from '../helpers/source-files.js';

describe('the error catalog', () => {
  it('has unique EVALHOOK_ERR_* codes, each listed once in docs/errors.md', () => {
    const codes = Object.keys(CATALOG);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^EVALHOOK_ERR_[A-Z_]+$/);
    const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `(EVALHOOK_ERR_[A-Z_]+)`/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...codes].sort());
  });

  it('every domain error class is an EvalhookError with a catalog code', () => {
    const samples: Array<[EvalhookError, ErrorCode, boolean, number | undefined]> = [
      [new EndpointError('x', 'server'), 'EVALHOOK_ERR_ENDPOINT', true, undefined],
      [new EndpointError('x', 'unrecoverable'), 'EVALHOOK_ERR_ENDPOINT', false, undefined],
      [new EndpointError('x', 'aborted'), 'EVALHOOK_ERR_ENDPOINT', false, undefined],
      [transientError('x'), 'EVALHOOK_ERR_INFERENCE', true, undefined],
      [finalError('x'), 'EVALHOOK_ERR_INFERENCE', false, undefined],
      [new KubeApiError('x', 503, true), 'EVALHOOK_ERR_KUBE_API', true, undefined],
      [new WandbError('x', false, 404), 'EVALHOOK_ERR_WANDB', false, undefined],
      [new WandbError('x', true, 503), 'EVALHOOK_ERR_WANDB', true, undefined],
      [new CheckpointError('x'), 'EVALHOOK_ERR_CHECKPOINT', false, undefined],
      [new BenchmarkDataError('x'), 'EVALHOOK_ERR_BENCHMARK_DATA', false, undefined],
      [new ConfigError(['A: bad']), 'EVALHOOK_ERR_CONFIG', false, undefined],
      [new FinalError('x'), 'EVALHOOK_ERR_FINAL', false, undefined],
      [new CancelledError(), 'EVALHOOK_ERR_CANCELLED', false, undefined],
      [new InvalidCursorError(), 'EVALHOOK_ERR_CURSOR', false, 400],
      [new EvaluationNotFoundError('e'), 'EVALHOOK_ERR_NOT_FOUND', false, 404],
      [new EvaluationConflictError('x'), 'EVALHOOK_ERR_CONFLICT', false, 409],
      [new QueueFullError(3), 'EVALHOOK_ERR_QUEUE_FULL', true, 429],
      [new QueueUnavailableError(), 'EVALHOOK_ERR_QUEUE_UNAVAILABLE', true, 503],
      [new OperationTimeoutError('op', 5), 'EVALHOOK_ERR_TIMEOUT', true, 504],
    ];
    for (const [err, code, retryable, status] of samples) {
      expect(err, err.name).toBeInstanceOf(EvalhookError);
      expect(err.code, err.name).toBe(code);
      expect(err.retryable, err.name).toBe(retryable);
      expect(err.statusCode, err.name).toBe(status);
      expect(CATALOG[err.code]).toBeDefined();
    }
    expect(new InferenceError('x', { retryable: true })).toBeInstanceOf(EvalhookError);
  });

  it('no class in src extends Error directly: everything is made from EvalhookError', () => {
    const offenders = sourceFiles('src')
      .filter((f) => /class \w+ extends Error\b/.test(f.text))
      .map((f) => f.path);
    expect(offenders).toEqual(['src/errors.ts']);
  });
});

describe('classifyFailure', () => {
  it('takes retryable from catalog errors', () => {
    expect(classifyFailure(new WandbError('W&B down', true, 503))).toMatchObject({
      retryable: true,
      reason: 'W&B down',
    });
    expect(classifyFailure(new FinalError('bad profile'))).toMatchObject({ retryable: false, reason: 'bad profile' });
    expect(classifyFailure(new CancelledError())).toMatchObject({ retryable: false, cancelled: true });
    expect(classifyFailure(new EndpointError('busy', 'rate-limited', { status: 429, role: 'judge' }))).toEqual({
      retryable: true,
      reason: 'judge endpoint (HTTP 429): busy',
    });
  });

  it('does not retry an error outside the catalog, and flags it as a bug', () => {
    const f = classifyFailure(new TypeError("Cannot read properties of undefined (reading 'x')"));
    expect(f.retryable).toBe(false);
    expect(f.bug).toBe(true);
    expect(f.reason).toContain("reading 'x'");
    expect(classifyFailure('a string').retryable).toBe(false);
  });

  it('retries connection-class errors that nobody wrapped', () => {
    const sys = (code: string, message: string) => Object.assign(new Error(message), { code });
    for (const err of [
      sys('ECONNRESET', 'read ECONNRESET'),
      sys('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6379'),
      sys('ETIMEDOUT', 'connect ETIMEDOUT'),
      new Error('socket hang up'),
      new TypeError('fetch failed', { cause: sys('UND_ERR_SOCKET', 'other side closed') }),
      new Error('Connection is closed.'),
      Object.assign(new Error('Reached the max retries per request limit (which is 20).'), {
        name: 'MaxRetriesPerRequestError',
      }),
    ]) {
      expect(isConnectionError(err), err.message).toBe(true);
      expect(classifyFailure(err), err.message).toMatchObject({ retryable: true });
      expect(classifyFailure(err).bug).toBeUndefined();
    }
    expect(isConnectionError(new RangeError('index out of range'))).toBe(false);
  });
});
