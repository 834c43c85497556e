/**
 * The one pino root. JSON only; tokens, signatures and keys are redacted three ways:
 * fixed redact paths (headers, with wildcards), a key-name pattern applied at any depth of each
 * log object, and an optional scrub of known secret values from every finished line (catches a
 * token pasted into a message string or an error text).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

export const CENSOR = '[redacted]';

/** Key names that always hold credentials: token, apiKey, api_key, secret, password, authorization… */
const SECRET_KEY = /token|api[-_]?key|secret|passw(or)?d|authorization|signature|cookie|credential/i;

const HEADER_PATHS = ['authorization', '"x-wandb-signature"', 'cookie', '"set-cookie"'];
const KEY_NAMES = ['token', 'apiKey', 'api_key', 'secret', 'password', 'accessToken', 'access_token'];

/** Explicit pino redact paths; pino cannot match key patterns, so the formatter below covers depth. */
export const REDACT_PATHS: string[] = [
  ...HEADER_PATHS.flatMap((h) => [`req.headers.${h}`, `headers.${h}`, `*.headers.${h}`, `res.headers.${h}`]),
  ...KEY_NAMES.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
];

export interface LoggerOptions {
  level: string;
  /** Where lines go (default stdout). Tests pass a buffer-backed stream. */
  destination?: DestinationStream;
  /** Known secret values that must never appear anywhere in a line, even inside strings. */
  censorSecrets?: ReadonlyArray<string | undefined>;
}

const MAX_DEPTH = 8;

/** Copy-on-write walk: replaces values under credential-looking keys; leaves everything else as is. */
function scrubKeys(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH || seen.has(value)) return value;
  // Only plain data: class instances (requests, errors) belong to pino's serializers and redact
  // paths, and copying one would drop the prototype getters the serializers read.
  const proto: unknown = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const s = scrubKeys(v, depth + 1, seen);
      if (s !== v) (out ??= [...value])[i] = s;
    });
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const s = SECRET_KEY.test(k) && typeof v === 'string' ? CENSOR : scrubKeys(v, depth + 1, seen);
    if (s !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = s;
  }
  return out ?? value;
}

/** A stream wrapper that blanks known secret values out of each serialized line. */
function censoringStream(dest: DestinationStream, secrets: string[]): DestinationStream {
  return {
    write(line: string) {
      let out = line;
      for (const s of secrets) if (out.includes(s)) out = out.split(s).join(CENSOR);
      dest.write(out);
    },
  };
}

export function createLogger(opts: LoggerOptions): Logger {
  // Short values would censor ordinary words; real tokens are long (config requires >= 16).
  const secrets = [...new Set((opts.censorSecrets ?? []).filter((s): s is string => typeof s === 'string' && s.length >= 8))]
    // Longest first so a secret containing another is removed whole.
    .sort((a, b) => b.length - a.length);
  const base = opts.destination ?? pino.destination({ dest: 1, sync: false });
  const dest = secrets.length ? censoringStream(base, secrets) : base;
  return pino(
    {
      level: opts.level,
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      formatters: { log: (obj) => scrubKeys(obj, 0, new WeakSet()) as Record<string, unknown> },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest,
  );
}

/** Every secret value the config knows, for `censorSecrets`. */
export function secretValues(config: Config): string[] {
  const { env } = config;
  return [env.WEBHOOK_TOKEN, env.WEBHOOK_SECRET, env.ADMIN_TOKEN, env.WANDB_API_KEY, env.OPENAI_API_KEY, env.JUDGE_API_KEY, env.INFERENCE_API_KEY, ...Object.values(config.secrets)].filter(
    (s): s is string => typeof s === 'string' && s.length > 0,
  );
}
