/**
 * The one pino root. JSON only; tokens, signatures and keys are redacted by the secret policy
 * (src/secrets.ts) three ways: fixed redact paths (headers, with wildcards), the key-name rule
 * applied at any depth of each log object, and a scrub of every finished line for known secret
 * values and URL passwords (catches a token pasted into a message string or an error text).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.js';
import { CENSOR, SECRET_HEADERS, isSecretKey, redactUrlPasswords, secretValues } from './secrets.js';

export type { Logger } from 'pino';

const HEADER_PATHS = SECRET_HEADERS.map((h) => (h.includes('-') ? `"${h}"` : h));
const KEY_NAMES = ['token', 'apiKey', 'api_key', 'secret', 'password', 'accessToken', 'access_token'];

/** Explicit pino redact paths; pino cannot match key patterns, so the formatter below covers depth. */
const REDACT_PATHS: string[] = [
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
    const s = isSecretKey(k) && typeof v === 'string' ? CENSOR : scrubKeys(v, depth + 1, seen);
    if (s !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = s;
  }
  return out ?? value;
}

/** A stream wrapper that blanks URL passwords and known secret values out of each serialized line. */
function censoringStream(dest: DestinationStream, secrets: string[]): DestinationStream {
  return {
    write(line: string) {
      let out = redactUrlPasswords(line);
      for (const s of secrets) if (out.includes(s)) out = out.split(s).join(CENSOR);
      dest.write(out);
    },
  };
}

export function createLogger(opts: LoggerOptions): Logger {
  // Short values would censor ordinary words; real tokens are long (config requires >= 16).
  const secrets = [
    ...new Set((opts.censorSecrets ?? []).filter((s): s is string => typeof s === 'string' && s.length >= 8)),
  ]
    // Longest first so a secret containing another is removed whole.
    .sort((a, b) => b.length - a.length);
  const base = opts.destination ?? pino.destination({ dest: 1, sync: false });
  const dest = censoringStream(base, secrets);
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

/** The process's root logger: the configured level, censoring every secret value the config knows. */
export function loggerFor(config: Config, destination?: DestinationStream): Logger {
  return createLogger({ level: config.env.LOG_LEVEL, destination, censorSecrets: secretValues(config) });
}
