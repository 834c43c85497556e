/** Links a user opens (wandb-dashboard.md §9); the app only reads a report URL's part after the last `--`. */
const enc = encodeURIComponent;

export function workspaceUrl(app: string, entity: string, project: string, slug: string): string {
  return `${app}/${enc(entity)}/${enc(project)}?nw=${enc(slug)}`;
}

/** The SDK's slug (BetaReport.url): non-word characters to `-`, runs collapsed, ends trimmed. */
export function reportUrl(app: string, entity: string, project: string, title: string, viewId: string): string {
  const slug = title
    .replace(/[^\p{L}\p{N}_]/gu, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  return `${app}/${enc(entity)}/${enc(project)}/reports/${enc(slug)}--${viewId.replace(/=/g, '')}`;
}
