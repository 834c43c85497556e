/**
 * Every run key a dashboard spec reads, by where W&B looks it up: summary (bar/scalar metrics,
 * `summary:` columns and sort keys, table keys of the radar and Weave panels), history (line plot
 * x axis and metrics), config (`config:` columns, filters) and run attributes.
 */
type Json = unknown;

export interface ReferencedKeys {
  summary: Set<string>;
  history: Set<string>;
  /** Config paths with W&B's `.value` removed: `benchmark.value.name` -> `benchmark.name`. */
  config: Set<string>;
  run: Set<string>;
}

export function referencedKeys(spec: Json): ReferencedKeys {
  const out: ReferencedKeys = { summary: new Set(), history: new Set(), config: new Set(), run: new Set() };
  const sectioned = (section: string, name: string) => {
    if (section === 'summary') out.summary.add(name);
    else if (section === 'config') out.config.add(name.replace(/\.value(\.|$)/, '$1'));
    else if (section === 'run') out.run.add(name);
    else throw new Error(`unexpected key section ${section}:${name}`);
  };
  const colon = (s: string) => {
    const i = s.indexOf(':');
    sectioned(s.slice(0, i), s.slice(i + 1));
  };
  const walk = (v: Json): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (typeof v !== 'object' || v === null) return;
    const o = v as Record<string, Json>;
    if (typeof o.viewType === 'string' && typeof o.config === 'object' && o.config) {
      const c = o.config as Record<string, Json>;
      const metrics = (c.metrics as string[] | undefined) ?? [];
      if (o.viewType === 'Run History Line Plot') {
        metrics.forEach((m) => out.history.add(m));
        out.history.add(String(c.xAxis));
        if (c.groupBy) out.run.add(String(c.groupBy));
      } else if (o.viewType === 'Scatter Plot') {
        colon(String(c.xAxis));
        colon(String(c.yAxis));
      } else if (o.viewType === 'Markdown Panel') {
        /* no keys */
      } else {
        metrics.forEach((m) => out.summary.add(m));
      }
    }
    if (o.name === 'tableKey' && typeof o.value === 'string') out.summary.add(o.value);
    if (o.nodeType === 'const' && o.type === 'string' && typeof o.val === 'string') out.summary.add(o.val);
    if (typeof o.section === 'string' && typeof o.name === 'string') sectioned(o.section, o.name);
    if (Array.isArray(o.columnOrder)) (o.columnOrder as string[]).forEach(colon);
    for (const [k, x] of Object.entries(o)) if (k !== 'columnVisible' && k !== 'columnPinned') walk(x);
  };
  walk(spec);
  return out;
}

/** `a.b` present in a nested object. */
export function hasPath(obj: Record<string, unknown>, path: string): boolean {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || !(part in cur)) return false;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur !== undefined;
}
