/**
 * The eval core's only doors to the outside world. Adapters (openai SDK, Redis, files) implement
 * these at the edges; the core never imports them.
 */
import type { EvalRecord } from './types.js';

export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** One chat-completions request, exactly as it is sent (it is also what gets recorded). */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  max_tokens: number;
  /** Structured-output judge only. */
  response_format?: {
    type: 'json_schema';
    json_schema: { name: string; schema: Record<string, unknown>; strict?: boolean };
  };
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/** What the endpoint said about its own rate limits (x-ratelimit-* headers), when it said anything. */
export interface RateLimitState {
  limitRequests?: number;
  remainingRequests?: number;
  /** ms until the request budget is back. */
  resetRequestsMs?: number;
  limitTokens?: number;
  remainingTokens?: number;
  /** ms until the token budget is back. */
  resetTokensMs?: number;
}

export interface ChatResult {
  content: string;
  usage: TokenUsage;
  finishReason?: string;
  rateLimit?: RateLimitState;
}

export interface ChatCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Scheduling hint for shared limiters: higher is served first when calls wait for a slot. */
  priority?: number;
}

/** An OpenAI-compatible chat endpoint. Failures are thrown as EndpointError (see errors.ts). */
export interface ChatClient {
  complete(req: ChatRequest, opts?: ChatCallOptions): Promise<ChatResult>;
  /**
   * Calls the endpoint takes at once right now, when an adaptive limit behind the client decides it.
   * The engine queues calls beyond it itself, so a call's timeout never runs while it waits for a slot.
   */
  inFlightLimit?(): number;
}

/**
 * Receives every answer and judgment the moment it completes, and hands them back on resume so a
 * finished call is never made twice. `key` is stable for the same unit of work.
 */
export interface EvalStore {
  load(): Promise<EvalRecord[]>;
  save(record: EvalRecord): Promise<void>;
}

/** Content-addressed judge cache: key = hash(judge model + full prompt + parameters). */
export interface JudgeCache {
  get(key: string): Promise<ChatResult | undefined>;
  set(key: string, value: ChatResult): Promise<void>;
}
