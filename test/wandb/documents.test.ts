import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { DOCUMENTS, FEATURE_GATED } from '../../src/wandb/documents.js';
import { loadWandbSchema } from '../fakes/wandb-graphql.js';
import { schemaMissing } from './helpers.js';

const entries = Object.entries(DOCUMENTS) as Array<[keyof typeof DOCUMENTS, string]>;

describe.skipIf(schemaMissing)('GraphQL documents', () => {
  it.each(entries)('%s validates against the current W&B schema (dump + extensions)', (_name, doc) => {
    expect(validate(loadWandbSchema('current'), parse(doc)).map((e) => e.message)).toEqual([]);
  });

  it.each(entries.filter(([n]) => !FEATURE_GATED.includes(n)))(
    '%s also validates against the old schema dump (sent without feature checks)',
    (_name, doc) => {
      expect(validate(loadWandbSchema('legacy'), parse(doc)).map((e) => e.message)).toEqual([]);
    },
  );
});

describe("README's W&B calls section", () => {
  it('lists every document constant', () => {
    const md = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    for (const [name] of entries) expect(md).toContain(`\`${name}\``);
  });
});
