/** The shared limits (src/jobs/limiter.ts) the pipeline and the benchmarks give each chat endpoint. */
import type { EndpointRole } from '../eval/errors.js';
import { JUDGE_START_CONCURRENCY, startConcurrency, type Profile } from '../profile.js';

export interface ChatTarget {
  baseURL: string;
  apiKey?: string;
  headers?: Record<string, string>;
  role: EndpointRole;
}

export interface ChatLimits {
  name: string;
  /** The ceiling of the adaptive limit, which starts at `start`. */
  maxInFlight: number;
  start: number;
  rpm: number;
  tpm: number;
}

/** The inference target's shared limits: adaptive, from the kind's start up to the profile's ceiling. */
export function candidateLimits(profile: Profile, baseURL: string): ChatLimits {
  return {
    name: `inference:${baseURL}`,
    maxInFlight: profile.inference.concurrency,
    start: startConcurrency(profile.inference),
    rpm: 0,
    tpm: 0,
  };
}

/** The judge's shared limits: adaptive up to JUDGE_CONCURRENCY, within JUDGE_RPM and JUDGE_TPM. */
export function judgeLimits(profile: Profile): ChatLimits {
  const { judge } = profile;
  return {
    name: `judge:${judge.baseURL}`,
    maxInFlight: judge.concurrency,
    start: Math.min(JUDGE_START_CONCURRENCY, judge.concurrency),
    rpm: judge.rpm,
    tpm: judge.tpm,
  };
}
