/**
 * The data-only unpickler on real torch.save files and on hostile pickles: what torch's weights_only
 * loader accepts is read, everything else is refused by name, and nothing in a file ever runs.
 */
import { existsSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CheckpointError,
  openTorchFile,
  StorageRef,
  TensorRef,
  unpickle,
  type PyTuple,
} from '../../src/checkpoint/index.js';
import { tempDir } from '../helpers/tmp.js';
import { fixture } from './helpers.js';

const MARKER = '/tmp/evalhook-pwned-marker';
const noStorage = { persistentLoad: () => null };

async function refusal(path: string): Promise<string> {
  const err = await openTorchFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CheckpointError);
  return (err as Error).message;
}

describe('torch checkpoint reader', () => {
  it('reads a plain float32 state dict: OrderedDict of tensors with shapes, dtypes and bytes', async () => {
    const f = await openTorchFile(fixture('plain_fp32.pt'));
    try {
      expect(f.root).toBeInstanceOf(Map);
      const root = f.root as Map<unknown, unknown>;
      const qa = root.get('layers.0.attn.q_proj.lora_a.weight') as TensorRef;
      expect(qa).toBeInstanceOf(TensorRef);
      expect(qa.shape).toEqual([4, 32]);
      expect(qa.storage.dtype).toBe('F32');
      expect((await f.tensorBytes(qa)).length).toBe(4 * 32 * 4);
      expect(root.get('output.lora_b.weight')).toMatchObject({ shape: [64, 4] });
    } finally {
      await f.close();
    }
  });

  it('reads the adapter wrapper with AdamW state, seed and epochs_run (bfloat16 weights)', async () => {
    const f = await openTorchFile(fixture('adapter_checkpoint_2.pt'));
    try {
      const root = f.root as Map<unknown, unknown>;
      expect(root.get('epochs_run')).toBe(3);
      expect(root.get('seed')).toBe(42);
      expect(root.get('max_steps_per_epoch')).toBeNull();
      const adapter = root.get('adapter') as Map<unknown, unknown>;
      expect((adapter.get('layers.0.attn.q_proj.lora_b.weight') as TensorRef).storage.dtype).toBe('BF16');
      const opt = root.get('optimizer') as Map<unknown, unknown>;
      const groups = opt.get('param_groups') as Array<Map<unknown, unknown>>;
      expect(groups[0]!.get('lr')).toBeCloseTo(3e-4);
      expect(groups[0]!.get('betas')).toMatchObject({ items: [0.9, 0.999] });
    } finally {
      await f.close();
    }
  });

  it('refuses posix.system through REDUCE by name, and nothing runs', async () => {
    rmSync(MARKER, { force: true });
    const msg = await refusal(fixture('posix_system.pt'));
    expect(msg).toContain('posix.system');
    expect(msg).toMatch(/never allowed/);
    expect(existsSync(MARKER)).toBe(false);
  });

  it('refuses an unknown global inside a state dict, naming it', async () => {
    expect(await refusal(fixture('builtins_eval.pt'))).toContain('refusing global builtins.eval');
  });

  it('refuses a pickled nn.Module (torch.save(model)) naming its class', async () => {
    expect(await refusal(fixture('module.pt'))).toContain('torch.nn.modules.linear.Linear');
  });

  it('refuses the legacy non-zip torch.save format with a message saying so', async () => {
    expect(await refusal(fixture('legacy.pt'))).toMatch(/legacy \(non-zip\) format/);
  });

  it('reads deflated zips (node:zlib inflateRaw), refuses one inflating past its declared size, and holds to the size limits', async () => {
    const f = await openTorchFile(fixture('deflated.pt'));
    await f.close();
    expect(await refusal(fixture('bomb.pt'))).toMatch(/does not inflate to its declared 16 bytes/);
    await expect(
      openTorchFile(fixture('plain_fp32.pt'), { maxPickleBytes: 100, maxStorageBytes: 1 << 20 }),
    ).rejects.toThrow(/data\.pkl is \d+ bytes; the limit is 100/);
    const small = await openTorchFile(fixture('plain_fp32.pt'), { maxPickleBytes: 1 << 20, maxStorageBytes: 64 });
    try {
      const t = (small.root as Map<unknown, unknown>).get('layers.0.attn.q_proj.lora_a.weight') as TensorRef;
      await expect(small.tensorBytes(t)).rejects.toThrow(/is 512 bytes; the limit is 64/);
    } finally {
      await small.close();
    }
  });

  it('refuses a file that is not a checkpoint at all', async () => {
    const p = join(await tempDir('ckpt'), 'x.pt');
    await writeFile(p, 'hello');
    expect(await refusal(p)).toMatch(/not a PyTorch checkpoint/);
  });

  it("refuses opcodes torch's weights_only loader does not know (e.g. INST, BUILD on a list)", () => {
    // protocol-0 INST "os system" would import by name in pickle; here it is an unknown opcode.
    expect(() => unpickle(Buffer.from("(S'ls'\nios\nsystem\n.", 'latin1'), noStorage)).toThrow(
      /unsupported pickle opcode 0x53/,
    );
    expect(() => unpickle(Buffer.from([0x80, 0x02, 0x5d, 0x7d, 0x62, 0x2e]), noStorage)).toThrow(/BUILD on something/);
    // STACK_GLOBAL (protocol 4) is not in torch's list either.
    expect(() => unpickle(Buffer.from([0x80, 0x04, 0x93, 0x2e]), noStorage)).toThrow(/opcode 0x93/);
  });

  it('reads a tensor that is a transposed view and one at a storage offset, as contiguous bytes', async () => {
    const f = await openTorchFile(fixture('adapter_checkpoint_2.pt'));
    try {
      const adapter = (f.root as Map<unknown, unknown>).get('adapter') as Map<unknown, unknown>;
      const t = adapter.get('layers.0.attn.v_proj.lora_a.weight') as TensorRef;
      expect(t.stride).toEqual([1, 4]);
      const s = adapter.get('layers.1.attn.k_proj.lora_b.weight') as TensorRef;
      expect(s.offset).toBe(12);
      expect((await f.tensorBytes(t)).length).toBe(4 * 32 * 2);
    } finally {
      await f.close();
    }
  });

  it('refuses a tensor whose view reaches past its storage', () => {
    const pickle = Buffer.concat([
      Buffer.from([0x80, 0x02]),
      Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n'),
      Buffer.from([0x28]),
      Buffer.from([0x28]),
      Buffer.from('X\x07\x00\x00\x00storage', 'latin1'),
      Buffer.from('ctorch\nFloatStorage\n'),
      Buffer.from('X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04t', 'latin1'),
      Buffer.from([0x51]),
      Buffer.from('K\x00K\x03K\x03\x86K\x03K\x01\x86\x89N', 'latin1'),
      Buffer.from([0x74, 0x52, 0x2e]),
    ]);
    const storage = (pid: PyTuple) => new StorageRef(String(pid.items[2]), 'F32', 4, Number(pid.items[4]));
    expect(() => unpickle(pickle, { persistentLoad: storage })).toThrow(/reaches element 8 of a storage of 4/);
  });
});
