/**
 * Fresh-clone convenience: outside production, missing WEBHOOK_TOKEN/ADMIN_TOKEN are generated once
 * and kept in <data dir>/dev-tokens.json (mode 0600) so `npm start` works with no set-up. The values
 * are never logged; the file path is. Production must set both explicitly.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const DevTokens = z.object({ WEBHOOK_TOKEN: z.string().min(16), ADMIN_TOKEN: z.string().min(16) });

export function withDevTokens(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; file?: string } {
  if (env.NODE_ENV === 'production' || (env.WEBHOOK_TOKEN && env.ADMIN_TOKEN)) return { env };
  const dir = env.EVALHOOK_DATA_DIR || '.evalhook';
  const file = join(dir, 'dev-tokens.json');
  let tokens: z.infer<typeof DevTokens> | undefined;
  if (existsSync(file)) {
    const parsed = DevTokens.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (parsed.success) tokens = parsed.data;
  }
  if (!tokens) {
    tokens = {
      WEBHOOK_TOKEN: randomBytes(24).toString('base64url'),
      ADMIN_TOKEN: randomBytes(24).toString('base64url'),
    };
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return {
    env: {
      ...env,
      WEBHOOK_TOKEN: env.WEBHOOK_TOKEN || tokens.WEBHOOK_TOKEN,
      ADMIN_TOKEN: env.ADMIN_TOKEN || tokens.ADMIN_TOKEN,
    },
    file,
  };
}
