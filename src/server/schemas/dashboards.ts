/** POST /api/v1/dashboards/sync: rebuild one project's W&B dashboard by hand. */
import { z } from 'zod';
import { WANDB_NAME } from '../../wandb/dashboard/keys.js';

const wandbName = z.string().regex(WANDB_NAME, 'a W&B name (letters, digits, ., - and _; max 128)');

export const DashboardSyncBody = z
  .object({
    entity: wandbName
      .optional()
      .describe("W&B entity; default: the project's profile's entity, else the API key's default entity"),
    project: wandbName.optional().describe("W&B project; default: the default profile's project (WANDB_PROJECT)"),
  })
  .strict()
  .default({});

export const DashboardSyncReply = z.object({
  entity: z.string(),
  project: z.string(),
  workspaceUrl: z
    .string()
    .nullable()
    .describe('Saved workspace view of the first benchmark (`<app>/<entity>/<project>?nw=…`)'),
  reportUrl: z.string().nullable().describe('The report (`<app>/<entity>/<project>/reports/<title>--<id>`)'),
  workspaces: z.record(z.string(), z.string()).describe('Workspace view per benchmark'),
  warnings: z.array(z.string()).describe('Parts W&B did not accept, with the reason'),
});
