/**
 * The fake's views and custom charts (wandb-dashboard.md §3): upsertView (insert without id, update
 * with id; a name is not a key, so a second create really duplicates), allViews on a project,
 * view(id), and the custom chart preset operations. Tests read `state.views` to assert what W&B
 * holds and call `userEdit` to act as a person editing in the UI.
 */
import { jsonString, str, type Args, type ResolverEnv } from './wandb-graphql.js';

export interface FakeView {
  id: string;
  entity: string;
  project: string;
  type: string;
  name: string;
  displayName: string | null;
  description: string | null;
  /** As stored: the JSON text the client sent. */
  spec: string;
  createdAt: string;
  updatedAt: string;
}

export interface FakeChart {
  id: string;
  entity: string;
  name: string;
  displayName: string;
  type: string;
  access: string;
  spec: string;
  updatedAt: string;
}

export const VIEW_OPERATIONS: Record<string, string[]> = {
  UpsertView: ['upsertView'],
  FindViews: ['project'],
  ViewById: ['view'],
  CreateCustomChart: ['createCustomChart'],
  CustomChartById: ['customChart'],
  UpdateCustomChart: ['updateCustomChart'],
};

export class FakeViews {
  views: FakeView[] = [];
  charts = new Map<string, FakeChart>();
  private clock = 0;
  private seq = 0;

  /** Strictly increasing timestamps, so "edited after our write" never depends on the millisecond. */
  now(): string {
    this.clock = Math.max(Date.now(), this.clock + 1);
    return new Date(this.clock).toISOString();
  }

  ofType(type: string): FakeView[] {
    return this.views.filter((v) => v.type === type);
  }

  get(id: string): FakeView {
    const v = this.views.find((x) => x.id === id);
    if (!v) throw new Error(`no view ${id}`);
    return v;
  }

  parsed(id: string): Record<string, unknown> {
    return JSON.parse(this.get(id).spec) as Record<string, unknown>;
  }

  /** A person saves the view in the UI: the spec as `edit` returns it, and a newer updatedAt. */
  userEdit(id: string, edit: (spec: Record<string, unknown>) => Record<string, unknown> = (s) => s): void {
    const v = this.get(id);
    v.spec = JSON.stringify(edit(this.parsed(id)));
    v.updatedAt = this.now();
  }

  nextId(): string {
    return Buffer.from(`View:${++this.seq}`).toString('base64');
  }
}

const viewObj = (v: FakeView) => ({
  ...v,
  entityName: v.entity,
  projectName: v.project,
  locked: false,
  createdUsing: 'WANDB_SDK',
  viewCount: 0,
  project: {
    id: Buffer.from(`Project:${v.entity}/${v.project}`).toString('base64'),
    name: v.project,
    entityName: v.entity,
  },
});

const chartObj = (c: FakeChart) => ({ ...c, user: { id: 'VXNlcjox', username: 'evalhook-bot' } });

/** `project.allViews`, filtered as the server does by type and (exact) name. */
export function projectViews(env: ResolverEnv, entity: string, project: string) {
  return (args: Args) => {
    const all = env.state.views.views.filter(
      (v) =>
        v.entity === entity &&
        v.project === project &&
        (!args.viewType || v.type === args.viewType) &&
        (!args.viewName || v.name === args.viewName),
    );
    const start = typeof args.after === 'string' ? Number(args.after) : 0;
    const first = typeof args.first === 'number' ? args.first : all.length;
    const slice = all.slice(start, start + first);
    return {
      edges: slice.map((v, i) => ({ cursor: String(start + i + 1), node: viewObj(v) })),
      pageInfo: {
        endCursor: slice.length ? String(start + slice.length) : null,
        hasNextPage: start + slice.length < all.length,
        hasPreviousPage: start > 0,
        startCursor: String(start),
      },
    };
  };
}

export function viewResolvers(env: ResolverEnv): Record<string, unknown> {
  const store = env.state.views;
  return {
    upsertView: ({ input }: { input: Args }) => {
      if (typeof input.spec !== 'string') throw new Error('spec must be a JSON-encoded string');
      jsonString(input.spec, 'spec');
      const at = store.now();
      if (input.id) {
        const v = store.views.find((x) => x.id === input.id);
        if (!v) throw new Error(`view ${String(input.id)} not found`);
        v.spec = input.spec;
        if (str(input.name)) v.name = str(input.name)!;
        if (input.displayName !== undefined) v.displayName = str(input.displayName) ?? null;
        if (input.description !== undefined) v.description = str(input.description) ?? null;
        v.updatedAt = at;
        return { view: viewObj(v), inserted: false };
      }
      const type = str(input.type);
      const name = str(input.name);
      if (!type || !name) throw new Error('a new view needs type and name');
      if (type === 'project-view' && !/^nw-[a-z0-9]+-v$/.test(name))
        throw new Error(`a saved workspace view is named nw-<id>-v, not ${name}`);
      const v: FakeView = {
        id: store.nextId(),
        entity: str(input.entityName) ?? env.state.viewer.entity,
        project: str(input.projectName) ?? 'uncategorized',
        type,
        name,
        displayName: str(input.displayName) ?? null,
        description: str(input.description) ?? null,
        spec: input.spec,
        createdAt: at,
        updatedAt: at,
      };
      store.views.push(v);
      return { view: viewObj(v), inserted: true };
    },
    view: (args: Args) => {
      const v = store.views.find((x) => x.id === args.id);
      return v ? viewObj(v) : null;
    },
    createCustomChart: ({ input }: { input: Args }) => {
      const entity = String(input.entity);
      const name = String(input.name);
      if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`invalid custom chart name ${name}`);
      const id = `${entity}/${name}`;
      if (store.charts.has(id)) throw new Error(`custom chart ${id} already exists`);
      jsonString(input.spec, 'spec');
      store.charts.set(id, {
        id,
        entity,
        name,
        displayName: String(input.displayName),
        type: String(input.type),
        access: String(input.access),
        spec: String(input.spec),
        updatedAt: store.now(),
      });
      return { chart: chartObj(store.charts.get(id)!) };
    },
    customChart: (args: Args) => {
      const c = store.charts.get(String(args.id));
      return c ? chartObj(c) : null;
    },
    updateCustomChart: ({ input }: { input: Args }) => {
      const c = store.charts.get(`${String(input.entity)}/${String(input.name)}`);
      if (!c) throw new Error(`custom chart ${String(input.entity)}/${String(input.name)} not found`);
      if (input.spec != null) {
        jsonString(input.spec, 'spec');
        c.spec = String(input.spec);
      }
      if (input.displayName != null) c.displayName = String(input.displayName);
      if (input.access != null) c.access = String(input.access);
      c.updatedAt = store.now();
      return { chart: chartObj(c) };
    },
  };
}
