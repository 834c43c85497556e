/**
 * Malformed input never makes a 5xx and never hurts the process. Seeded PRNG: a failure prints the
 * case index, and the same seed replays it (FUZZ_SEED to try others).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, WEBHOOK_TOKEN, delivery, makeFixture, sign, type Fixture } from './fixture.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);

/** mulberry32: tiny, fast, good enough for test data. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  return { next, int, pick };
}

type Rng = ReturnType<typeof prng>;
interface Case {
  body: Buffer | string;
  contentType?: string;
  auth?: string;
  signature?: string;
}

const FIELDS = [
  'event_type',
  'event_author',
  'artifact_version',
  'artifact_version_string',
  'alias',
  'project_name',
  'artifact_collection_name',
  'entity_name',
];
const WEIRD_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  [],
  {},
  [1, [2, [3]]],
  { $gt: '' },
  '',
  ' ',
  '\u0000',
  '\uD800',
  '${x}',
  'a'.repeat(5000),
  '../../etc/passwd',
  '<script>',
];
const WEIRD_STRINGS = [
  '',
  ':',
  '::::',
  '/',
  '//:v1',
  'e/p/c:v',
  'e/p/c:v1:v2',
  'e/p/ :v1',
  'e/p/c:v1\r\nX: y',
  'wandb-artifact://_id/',
  'wandb-artifact://_id/%%%',
  'wandb-artifact://_id/' + 'A'.repeat(600),
  '\u202Ee/p/c:v1',
  'e/p/c:☃',
  'LINK_ARTIFACT\u0000',
];

function randomBytes(r: Rng, max: number): Buffer {
  const b = Buffer.alloc(r.int(max));
  for (let i = 0; i < b.length; i++) b[i] = r.int(256);
  return b;
}

function deepNesting(r: Rng): string {
  const depth = r.pick([100, 1_000, 10_000, 100_000, 300_000]);
  const kind = r.int(3);
  if (kind === 0) return '['.repeat(depth) + ']'.repeat(depth);
  if (kind === 1) return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  return '{"event_type":"LINK_ARTIFACT","x":' + '['.repeat(depth); // unterminated
}

function wrongTypes(r: Rng): string {
  const body: Record<string, unknown> = { ...delivery() };
  for (let i = 0; i <= r.int(3); i++) body[r.pick(FIELDS)] = r.pick(WEIRD_VALUES);
  return JSON.stringify(body);
}

function weirdStrings(r: Rng): string {
  const body: Record<string, unknown> = { ...delivery() };
  body[r.pick(['artifact_version', 'artifact_version_string', 'event_type', 'alias'])] = r.pick(WEIRD_STRINGS);
  return JSON.stringify(body);
}

function pollution(r: Rng): string {
  return r.pick([
    '{"__proto__":{"polluted":"yes"},"event_type":"LINK_ARTIFACT"}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    `{"__proto__":{"event_type":"LINK_ARTIFACT","artifact_version_string":"e/p/c:v1"}}`,
    `{"event_type":"LINK_ARTIFACT","artifact_version_string":"e/p/c:v${r.int(1e6)}","__proto__":{"polluted":1},"nested":{"__proto__":{"polluted":2}}}`,
    '{"toString":"x","hasOwnProperty":"y","valueOf":1,"event_type":"CREATE_ARTIFACT"}',
  ]);
}

function huge(r: Rng): string {
  const n = r.pick([10_000, 500_000, 1_000_000, 1_048_000]);
  return JSON.stringify({ ...delivery(), [r.pick(['event_type', 'artifact_version_string', 'junk'])]: 'x'.repeat(n) });
}

function truncated(r: Rng): string {
  const s = JSON.stringify(delivery());
  return s.slice(0, r.int(s.length));
}

function makeCase(r: Rng): Case {
  const gens = [randomBytes.bind(null, r, 4096), deepNesting, wrongTypes, weirdStrings, pollution, huge, truncated];
  const g = r.int(gens.length);
  const body = g === 0 ? randomBytes(r, 4096) : (gens[g] as (r: Rng) => string)(r);
  const c: Case = { body };
  if (r.next() < 0.2)
    c.contentType = r.pick([
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=utf-16',
      '',
      '*/*',
      'a'.repeat(300),
    ]);
  if (r.next() < 0.1)
    c.auth = r.pick([
      'Bearer',
      'Bearer ',
      `Bearer ${WEBHOOK_TOKEN} extra`,
      `bearer ${WEBHOOK_TOKEN}`,
      'Basic Og==',
      '\u00ff',
      `Bearer ${'A'.repeat(5000)}`,
    ]);
  return c;
}

let f: Fixture;
beforeAll(async () => {
  f = await makeFixture();
});
afterAll(async () => f?.close());

it(`1,200 malformed webhook bodies (seed ${SEED}): never a 5xx`, async () => {
  const r = prng(SEED);
  const statuses = new Map<number, number>();
  for (let batch = 0; batch < 60; batch++) {
    const cases = Array.from({ length: 20 }, () => makeCase(r));
    const replies = await Promise.all(
      cases.map((c) =>
        f.app.inject({
          method: 'POST',
          url: '/webhooks/wandb',
          payload: c.body,
          headers: {
            authorization: c.auth ?? `Bearer ${WEBHOOK_TOKEN}`,
            ...(c.contentType === undefined
              ? { 'content-type': 'application/json' }
              : { 'content-type': c.contentType }),
          },
        }),
      ),
    );
    replies.forEach((res, i) => {
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500) throw new Error(`case ${batch * 20 + i}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    });
  }
  // The mix really exercised the paths: rejections, acceptances and ignores all happened.
  expect([...statuses.keys()]).toEqual(expect.arrayContaining([200, 202, 400, 401, 413]));
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect((await f.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  expect((await f.app.inject({ url: '/readyz' })).statusCode).toBe(200);
});

it(`300 malformed admin requests and signatures (seed ${SEED}): never a 5xx`, async () => {
  const r = prng(SEED + 1);
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const signed = await makeFixture({ secret: true });
  try {
    for (let i = 0; i < 300; i++) {
      const kind = i % 4;
      const junk = r.pick(WEIRD_STRINGS) + r.pick(['', '?', '#', '%', '%zz', '\u0000', '..%2f']);
      const res =
        kind === 0
          ? await f.app.inject({
              method: 'POST',
              url: '/api/v1/evaluations',
              headers: auth,
              payload:
                r.next() < 0.5
                  ? randomBytes(r, 512)
                  : JSON.stringify({ artifact: r.pick(WEIRD_VALUES), profile: r.pick(WEIRD_VALUES) }),
            })
          : kind === 1
            ? await f.app.inject({
                url: `/api/v1/evaluations?status=${encodeURIComponent(junk)}&limit=${r.pick(['-1', 'abc', '1e9', '', '5'])}&cursor=${encodeURIComponent(junk)}&artifact=${encodeURIComponent(junk)}`,
                headers: auth,
              })
            : kind === 2
              ? await f.app.inject({
                  method: r.pick(['GET', 'POST'] as const),
                  url: `/api/v1/evaluations/${encodeURIComponent(junk)}${r.pick(['', '/cancel', '/retry'])}`,
                  headers: auth,
                })
              : await (async () => {
                  const body = r.next() < 0.5 ? JSON.stringify(delivery()) : randomBytes(r, 256).toString('latin1');
                  const sig = r.pick([
                    sign(body),
                    sign(body, 'hex'),
                    `sha256=${sign(body, 'hex')}`,
                    '',
                    '=',
                    'sha256=',
                    'A'.repeat(300),
                    sign(body).slice(1),
                  ]);
                  return signed.app.inject({
                    method: 'POST',
                    url: '/webhooks/wandb',
                    payload: body,
                    headers: {
                      authorization: `Bearer ${WEBHOOK_TOKEN}`,
                      'x-wandb-signature': sig,
                      'content-type': 'application/json',
                    },
                  });
                })();
      if (res.statusCode >= 500) throw new Error(`admin case ${i}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    }
    expect((await f.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await signed.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  } finally {
    await signed.close();
  }
});
