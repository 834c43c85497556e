/** The torchtune fixtures (test/fixtures/torchtune, made by make_fixtures.py with real PyTorch). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const FIXTURES = resolve(import.meta.dirname, '../fixtures/torchtune');
export const fixture = (name: string) => resolve(FIXTURES, name);

/** The head layout the fixtures were made with (make_fixtures.py HEADS). */
export const TINY_HEADS = { numHeads: 4, numKvHeads: 2, dim: 32 };

export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  data: Buffer;
}

/** What torchtune's tune_to_peft_adapter_weights gives for a fixture, computed with torch. */
export function expected(name: string): Map<string, ExpectedTensor> {
  const raw = JSON.parse(readFileSync(resolve(FIXTURES, 'expected', `${name}.json`), 'utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data: string }
  >;
  return new Map(
    Object.entries(raw).map(([k, v]) => [k, { dtype: v.dtype, shape: v.shape, data: Buffer.from(v.data, 'base64') }]),
  );
}
