import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { createLimiter, type Limiter } from '../../src/jobs/limiter.js';
import { redisUrl } from './redis.js';

/**
 * Redis connections and limiters one describe block opens (each connection stands for a worker
 * process), all closed after it. Call inside `describe`.
 */
export function redisClients() {
  const conns: Redis[] = [];
  const limiters: Limiter[] = [];
  afterAll(async () => {
    for (const l of limiters) await l.close();
    for (const r of conns)
      if (r.status === 'ready') await r.quit();
      else r.disconnect();
  });
  const connect = () => {
    const r = new Redis(redisUrl());
    conns.push(r);
    return r;
  };
  /** A limiter on its own connection (a "worker"), or on `r`. */
  const limiter = (prefix: string, opts?: Parameters<typeof createLimiter>[2], r: Redis = connect()) => {
    const l = createLimiter(r, prefix, opts);
    limiters.push(l);
    return l;
  };
  return { connect, limiter };
}

/** Now on Redis' clock (ms), the clock the limiter's scripts use. */
export async function redisNow(r: Redis): Promise<number> {
  const [s, us] = (await r.time()).map(Number) as [number, number];
  return s * 1000 + Math.floor(us / 1000);
}
