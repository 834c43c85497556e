/**
 * The radar chart preset: a Vega v5 spec registered once per entity as a custom chart
 * (`createCustomChart`, id `<entity>/mtbench-radar`) and drawn by every radar panel (reference §6.2).
 * One closed polygon per run (`series`), one spoke per category; W&B fills `${field:…}` from the
 * panel's fieldSettings and `${string:name:default}` from its stringSettings.
 */
import { RADAR_PRESET_NAME } from './keys.js';
import type { Json, JsonObject } from './panels.js';

export const RADAR_PRESET = {
  name: RADAR_PRESET_NAME,
  displayName: 'MT-Bench radar',
  type: 'vega2',
  access: 'PRIVATE',
} as const;

export const RADAR_VEGA_SPEC: JsonObject = {
  $schema: 'https://vega.github.io/schema/vega/v5.json',
  description: 'MT-Bench radar chart: one closed polygon per run (series), one axis per category',
  width: 420,
  height: 420,
  padding: {
    top: 30,
    left: 10,
    right: 10,
    bottom: 10,
  },
  autosize: {
    type: 'none',
    contains: 'padding',
  },
  title: {
    text: '${string:title:MT-Bench}',
    anchor: 'start',
    offset: 4,
  },
  signals: [
    {
      name: 'cx',
      update: 'width / 2',
    },
    {
      name: 'cy',
      update: 'height / 2 + 10',
    },
    {
      name: 'radius',
      update: 'max(10, min(width, height) / 2 - 70)',
    },
  ],
  data: [
    {
      name: 'wandb',
    },
    {
      name: 'axes',
      source: 'wandb',
      transform: [
        {
          type: 'project',
          fields: ['${field:category}'],
          as: ['axis'],
        },
        {
          type: 'filter',
          expr: 'isValid(datum.axis)',
        },
        {
          type: 'aggregate',
          groupby: ['axis'],
        },
        {
          type: 'window',
          ops: ['row_number'],
          as: ['axisIndex'],
        },
      ],
    },
    {
      name: 'points',
      source: 'wandb',
      transform: [
        {
          type: 'project',
          fields: ['${field:category}', '${field:score}', '${field:series}'],
          as: ['axis', 'value', 'series'],
        },
        {
          type: 'filter',
          expr: 'isValid(datum.axis) && isValid(datum.value)',
        },
        {
          type: 'lookup',
          from: 'axes',
          key: 'axis',
          fields: ['axis'],
          values: ['axisIndex'],
        },
        {
          type: 'collect',
          sort: {
            field: ['series', 'axisIndex'],
          },
        },
      ],
    },
  ],
  scales: [
    {
      name: 'angular',
      type: 'point',
      range: {
        signal: '[-PI, PI]',
      },
      padding: 0.5,
      domain: {
        data: 'axes',
        field: 'axis',
        sort: {
          field: 'axisIndex',
          op: 'min',
        },
      },
    },
    {
      name: 'radial',
      type: 'linear',
      range: {
        signal: '[0, radius]',
      },
      zero: true,
      nice: true,
      domain: {
        data: 'points',
        field: 'value',
      },
      domainMin: 0,
    },
    {
      name: 'color',
      type: 'ordinal',
      domain: {
        data: 'points',
        field: 'series',
      },
      range: {
        scheme: 'category10',
      },
    },
  ],
  legends: [
    {
      fill: 'color',
      stroke: 'color',
      orient: 'none',
      legendX: 0,
      legendY: 24,
      title: '${string:legendTitle:run}',
    },
  ],
  marks: [
    {
      type: 'group',
      name: 'plot',
      encode: {
        update: {
          x: {
            signal: 'cx',
          },
          y: {
            signal: 'cy',
          },
        },
      },
      marks: [
        {
          type: 'rule',
          name: 'spokes',
          from: {
            data: 'axes',
          },
          encode: {
            update: {
              x: {
                value: 0,
              },
              y: {
                value: 0,
              },
              x2: {
                signal: "radius * cos(scale('angular', datum.axis))",
              },
              y2: {
                signal: "radius * sin(scale('angular', datum.axis))",
              },
              stroke: {
                value: 'lightgray',
              },
              strokeWidth: {
                value: 1,
              },
            },
          },
        },
        {
          type: 'line',
          name: 'outer-ring',
          from: {
            data: 'spokes',
          },
          encode: {
            update: {
              interpolate: {
                value: 'linear-closed',
              },
              x: {
                field: 'x2',
              },
              y: {
                field: 'y2',
              },
              stroke: {
                value: 'lightgray',
              },
              strokeWidth: {
                value: 1,
              },
            },
          },
        },
        {
          type: 'text',
          name: 'axis-labels',
          from: {
            data: 'axes',
          },
          encode: {
            update: {
              x: {
                signal: "(radius + 8) * cos(scale('angular', datum.axis))",
              },
              y: {
                signal: "(radius + 8) * sin(scale('angular', datum.axis))",
              },
              text: {
                field: 'axis',
              },
              align: [
                {
                  test: "abs(scale('angular', datum.axis)) > PI / 2",
                  value: 'right',
                },
                {
                  value: 'left',
                },
              ],
              baseline: [
                {
                  test: "scale('angular', datum.axis) > 0",
                  value: 'top',
                },
                {
                  test: "scale('angular', datum.axis) == 0",
                  value: 'middle',
                },
                {
                  value: 'bottom',
                },
              ],
              fill: {
                value: 'black',
              },
              fontWeight: {
                value: 'bold',
              },
            },
          },
        },
        {
          type: 'group',
          name: 'series',
          from: {
            facet: {
              data: 'points',
              name: 'facet',
              groupby: ['series'],
            },
          },
          marks: [
            {
              type: 'line',
              name: 'polygon',
              from: {
                data: 'facet',
              },
              encode: {
                update: {
                  interpolate: {
                    value: 'linear-closed',
                  },
                  x: {
                    signal: "scale('radial', datum.value) * cos(scale('angular', datum.axis))",
                  },
                  y: {
                    signal: "scale('radial', datum.value) * sin(scale('angular', datum.axis))",
                  },
                  stroke: {
                    scale: 'color',
                    field: 'series',
                  },
                  strokeWidth: {
                    value: 2,
                  },
                  fill: {
                    scale: 'color',
                    field: 'series',
                  },
                  fillOpacity: {
                    value: 0.1,
                  },
                  tooltip: {
                    signal: "{'run': datum.series, 'category': datum.axis, 'score': format(datum.value, '.2f')}",
                  },
                },
              },
            },
          ],
        },
      ],
    },
  ],
};

/**
 * What W&B's Vega2 panel does before rendering (vega3.ts fieldInjectResult): `${field:x}` becomes the
 * mapped column (dots escaped), `${string:x[:default]}` the setting or its default. Used to render
 * the preset outside W&B (tests, README picture).
 */
export function injectSettings(spec: Json, fields: Record<string, string>, strings: Record<string, string> = {}): Json {
  if (typeof spec === 'string') {
    return spec
      .replace(/\$\{field:([^}]+)\}/g, (_m, k: string) => (fields[k] ?? k).replace(/\./g, '\\.'))
      .replace(/\$\{string:([^}:]+)(?::([^}]*))?\}/g, (_m, k: string, d: string | undefined) => strings[k] ?? d ?? '');
  }
  if (Array.isArray(spec)) return spec.map((s) => injectSettings(s, fields, strings));
  if (spec && typeof spec === 'object')
    return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, injectSettings(v, fields, strings)]));
  return spec;
}
