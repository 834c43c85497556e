/**
 * `evalhook dashboard --entity E --project P [--dry-run]`: rebuild one project's dashboard in W&B
 * now (as POST /api/v1/dashboards/sync does). `--dry-run` prints both specs as JSON without touching
 * W&B; without WANDB_API_KEY the specs are written to the results directory instead.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { ConfigError, loadConfig } from '../config.js';
import { createRedisDashboardStore } from '../jobs/dashboard-store.js';
import { redisOptions } from '../runtime.js';
import {
  DashboardSync,
  dashboardOffMessage,
  projectRequest,
  syncReply,
  writeSpecFiles,
} from '../wandb/dashboard/index.js';
import { WANDB_NAME } from '../wandb/dashboard/keys.js';
import { WandbClient } from '../wandb/index.js';
import { withDevTokens } from './dev-tokens.js';

const USAGE = `usage: evalhook dashboard [--entity E] [--project P] [--dry-run]
  --entity E    W&B entity (default: the project's profile's, else WANDB_ENTITY, else the API key's default entity)
  --project P   W&B project (default: WANDB_PROJECT)
  --dry-run     print the workspace and report specs as JSON; W&B is not contacted
Prints {"workspaceUrl", "reportUrl", ...} as JSON. Without WANDB_API_KEY the specs go to <EVALHOOK_DATA_DIR>/results/dashboard/<project>/.`;

export interface DashboardCommandIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
}

export async function dashboardCommand(argv: string[], io: DashboardCommandIO): Promise<number> {
  let values: { entity?: string; project?: string; 'dry-run'?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        entity: { type: 'string' },
        project: { type: 'string' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) return (void io.stdout.write(`${USAGE}\n`), 0);
  for (const flag of ['entity', 'project'] as const) {
    const v = values[flag];
    if (v !== undefined && !WANDB_NAME.test(v)) {
      io.stderr.write(`--${flag}: not a W&B name (letters, digits, ., - and _; max 128): "${v.slice(0, 200)}"\n`);
      return 2;
    }
  }
  let config;
  try {
    config = loadConfig(withDevTokens(io.env).env);
  } catch (err) {
    if (err instanceof ConfigError) return (void io.stderr.write(`${err.message}\n`), 78);
    throw err;
  }
  const req = projectRequest(config, { entity: values.entity, project: values.project });
  const json = (v: unknown) => void io.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

  if (values['dry-run']) {
    const entity = req.entity ?? '<entity>';
    return (json({ entity, project: req.project, views: req.views, ...DashboardSync.specs(entity, req) }), 0);
  }
  const key = config.env.WANDB_API_KEY;
  if (!key) {
    const dir = await writeSpecFiles(
      join(resolve(config.env.EVALHOOK_DATA_DIR), 'results'),
      req.entity ?? '<entity>',
      req,
    );
    return (json({ offline: true, localDir: dir }), 0);
  }
  if (!req.views.length) return (void io.stderr.write(`${dashboardOffMessage(req.project)}\n`), 1);
  const redis = new Redis(redisOptions(config.env.REDIS_URL));
  try {
    const sync = new DashboardSync(
      new WandbClient({ apiKey: key, baseURL: config.env.WANDB_BASE_URL }),
      createRedisDashboardStore(redis, config.env.QUEUE_PREFIX),
    );
    const r = await sync.sync(req);
    json(syncReply(r));
    for (const w of r.warnings) io.stderr.write(`warning: ${w}\n`);
    return r.workspaceUrl || r.reportUrl ? 0 : 1;
  } catch (err) {
    io.stderr.write(`evalhook dashboard: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
  }
}
