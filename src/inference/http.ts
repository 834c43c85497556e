/**
 * The few raw HTTP calls the launchers make to an inference server (model list, vLLM adapter
 * management), with a per-call timeout tied to the job's signal. Responses are parsed with zod.
 */
import { z } from 'zod';

export type FetchFn = typeof fetch;

export const ModelList = z
  .object({
    data: z.array(
      z.object({ id: z.string().min(1), root: z.string().nullish(), parent: z.string().nullish() }).loose(),
    ),
  })
  .loose();
export type ModelList = z.infer<typeof ModelList>;

export interface HttpResult {
  status: number;
  /** Parsed JSON when the body was JSON, else the text. */
  body: unknown;
}

export interface CallOptions {
  fetch: FetchFn;
  signal: AbortSignal;
  timeoutMs: number;
  headers?: Record<string, string>;
}

/** Joins `/v1`-style base URLs and paths without doubling or dropping slashes. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

export async function callJson(
  method: 'GET' | 'POST',
  url: string,
  body: unknown,
  opts: CallOptions,
): Promise<HttpResult> {
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]);
  const res = await opts.fetch(url, {
    method,
    headers: {
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text.length ? JSON.parse(text) : undefined;
  } catch {
    // plain-text error bodies stay text
  }
  return { status: res.status, body: parsed };
}

/** The human part of an error body: OpenAI `{error:{message}}`, vLLM `{message}`, FastAPI `{detail}`, or text. */
export function errorMessage(body: unknown): string {
  const Shape = z.union([
    z.object({ error: z.object({ message: z.string() }) }).transform((b) => b.error.message),
    z.object({ message: z.string() }).transform((b) => b.message),
    z.object({ detail: z.string() }).transform((b) => b.detail),
    z.string().transform((s) => s.slice(0, 500)),
  ]);
  const r = Shape.safeParse(body);
  return r.success ? r.data : (JSON.stringify(body)?.slice(0, 500) ?? '');
}

/** GET /v1/models: the served model ids (throws on a non-200 or a malformed list). */
export async function listModels(baseURL: string, opts: CallOptions): Promise<ModelList['data']> {
  const res = await callJson('GET', joinUrl(baseURL, 'models'), undefined, opts);
  if (res.status !== 200) throw new Error(`GET /v1/models answered ${res.status}: ${errorMessage(res.body)}`);
  const list = ModelList.safeParse(res.body);
  if (!list.success)
    throw new Error(`GET /v1/models returned no model list: ${list.error.issues[0]?.message ?? 'malformed'}`);
  return list.data.data;
}
