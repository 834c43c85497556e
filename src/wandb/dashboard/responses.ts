/** zod shapes of the view and custom-chart answers; specs are JSONString (a string) but accepted parsed too. */
import { z } from 'zod';

export const ViewNode = z
  .object({
    id: z.string(),
    name: z.string().nullish(),
    type: z.string().nullish(),
    displayName: z.string().nullish(),
    description: z.string().nullish(),
    spec: z.unknown().optional(),
    updatedAt: z.string().nullish(),
  })
  .loose();
export type ViewNode = z.infer<typeof ViewNode>;

export const UpsertViewResponse = z.object({
  upsertView: z.object({ view: ViewNode.nullable(), inserted: z.boolean().nullish() }).nullable(),
});

export const FindViewsResponse = z.object({
  project: z
    .object({
      allViews: z
        .object({
          edges: z.array(z.object({ node: ViewNode.nullable() })),
          pageInfo: z.object({ endCursor: z.string().nullish(), hasNextPage: z.boolean() }),
        })
        .nullable(),
    })
    .nullable(),
});

export const ViewByIdResponse = z.object({ view: ViewNode.nullable() });

export const CustomChartResponse = z.object({
  customChart: z
    .object({ id: z.string(), name: z.string().nullish(), spec: z.unknown().optional() })
    .loose()
    .nullable(),
});

export const ChartMutationResponse = z.union([
  z.object({ createCustomChart: z.object({ chart: z.object({ id: z.string() }).nullable() }).nullable() }),
  z.object({ updateCustomChart: z.object({ chart: z.object({ id: z.string() }).nullable() }).nullable() }),
]);

export const ViewerResponse = z.object({
  viewer: z.object({ entity: z.string().nullish(), username: z.string().nullish() }).nullable(),
});

/** A spec as stored: JSON text or already an object; anything unreadable is undefined. */
export function parseSpec(v: unknown): unknown {
  if (typeof v !== 'string') return v ?? undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return undefined;
  }
}
