import type { TestProject } from 'vitest/node';
import { startRedisServer, type OwnedRedis } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * One Redis for the run: REDIS_URL when set, else a redis-server child on a free port,
 * else a testcontainers Redis (laptops with Docker). Tests isolate themselves by key prefix.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.REDIS_URL) {
    project.provide('redisUrl', process.env.REDIS_URL);
    return async () => {};
  }
  let owned: OwnedRedis | undefined;
  try {
    owned = await startRedisServer();
    project.provide('redisUrl', owned.url);
    return async () => owned?.dispose();
  } catch (err) {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7.4').start().catch((e: unknown) => {
      throw new Error(
        `No Redis for tests: set REDIS_URL, install redis-server, or run Docker (${String(e)}; redis-server: ${String(err)})`,
      );
    });
    project.provide('redisUrl', container.getConnectionUrl());
    return async () => {
      await container.stop();
    };
  }
}
