/**
 * A data-only unpickler for the pickle inside a PyTorch checkpoint. It accepts exactly the opcodes
 * and globals `torch.load(weights_only=True)` accepts in torch 2.x (torch/_weights_only_unpickler.py)
 * and nothing else. Globals are never looked up or called: GLOBAL pushes an inert name, and
 * REDUCE/NEWOBJ dispatch on that name through the fixed table below, each entry building plain
 * data (maps, arrays, tensor descriptions). Any other name is a CheckpointError naming it.
 */
import { CheckpointError } from './errors.js';
import {
  call,
  isAllowedGlobal,
  PyGlobal,
  PySet,
  PyTuple,
  refusal,
  tensorArg,
  TensorRef,
  type PyValue,
} from './pickle-globals.js';

export interface UnpickleOptions {
  /** BINPERSID: torch's ('storage', <StorageClass>, key, location, numel) tuples. */
  persistentLoad(pid: PyTuple): PyValue;
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

/** Unpickles `data`, refusing (CheckpointError) anything torch's weights_only loader would refuse. */
export function unpickle(data: Buffer, opts: UnpickleOptions): PyValue {
  const stack: Slot[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > data.length) throw new CheckpointError('truncated pickle');
    const at = pos;
    pos += n;
    return at;
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new CheckpointError('corrupt pickle: stack underflow');
    return v;
  };
  const top = (): PyValue => {
    const v = stack.at(-1);
    if (v === undefined || v === MARK) throw new CheckpointError('corrupt pickle: stack underflow');
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new CheckpointError('corrupt pickle: no MARK');
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw new CheckpointError('truncated pickle');
    const s = data.toString('utf8', pos, end);
    pos = end + 1;
    return s;
  };
  const setTarget = (): Map<PyValue, PyValue> => {
    const d = top();
    if (!(d instanceof Map)) throw new CheckpointError('corrupt pickle: SETITEM on something that is not a dict');
    return d;
  };
  const appendTarget = (): PyValue[] => {
    const l = top();
    if (!Array.isArray(l)) throw new CheckpointError('corrupt pickle: APPEND on something that is not a list');
    return l;
  };

  for (;;) {
    const op = data[need(1)]!;
    switch (op) {
      case 0x80: // PROTO
        need(1);
        break;
      case 0x63: {
        // GLOBAL: pushed as an inert name after the allow-list check; nothing is imported.
        let module = line();
        const name = line();
        if (module === '__builtin__') module = 'builtins';
        const path = `${module}.${name}`;
        if (!isAllowedGlobal(path)) throw refusal(path);
        stack.push(new PyGlobal(path));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(args instanceof PyTuple)) throw new CheckpointError('corrupt pickle: REDUCE arguments are not a tuple');
        stack.push(call(fn, args.items));
        break;
      }
      case 0x81: {
        // NEWOBJ: torch allows it for Parameter (and allow-listed classes, none of which an adapter needs).
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal))
          throw new CheckpointError('corrupt pickle: NEWOBJ on something that is not a class');
        if (cls.path !== 'torch.nn.parameter.Parameter') throw refusal(cls.path);
        stack.push(tensorArg(args instanceof PyTuple ? args.items[0] : undefined));
        break;
      }
      case 0x62: {
        // BUILD: state of an OrderedDict (_metadata) or a legacy tensor; kept out of the data.
        pop();
        const inst = top();
        if (!(inst instanceof Map) && !(inst instanceof TensorRef))
          throw new CheckpointError('corrupt pickle: BUILD on something that is not a dict or tensor');
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendTarget().push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendTarget().push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setTarget().set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2) throw new CheckpointError('corrupt pickle: odd SETITEMS');
        const d = setTarget();
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        break;
      }
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x8f: // EMPTY_SET
        stack.push(new PySet([]));
        break;
      case 0x4a: // BININT
        stack.push(data.readInt32LE(need(4)));
        break;
      case 0x4b: // BININT1
        stack.push(data[need(1)]!);
        break;
      case 0x4d: // BININT2
        stack.push(data.readUInt16LE(need(2)));
        break;
      case 0x47: // BINFLOAT (big-endian)
        stack.push(data.readDoubleBE(need(8)));
        break;
      case 0x58: {
        // BINUNICODE
        const n = data.readUInt32LE(need(4));
        const at = need(n);
        stack.push(data.toString('utf8', at, at + n));
        break;
      }
      case 0x55: {
        // SHORT_BINSTRING (torch.load decodes it as ASCII)
        const n = data[need(1)]!;
        const at = need(n);
        stack.push(data.toString('latin1', at, at + n));
        break;
      }
      case 0x8a: {
        // LONG1: little-endian two's complement
        const n = data[need(1)]!;
        const at = need(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[at + i]!);
        if (n > 0 && data[at + n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x51: {
        // BINPERSID: only storages
        const pid = pop();
        if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage')
          throw new CheckpointError('refusing a persistent id that is not a tensor storage');
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const i = op === 0x68 ? data[need(1)]! : data.readUInt32LE(need(4));
        if (!memo.has(i)) throw new CheckpointError(`corrupt pickle: memo ${i} is empty`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x71: // BINPUT
      case 0x72: {
        // LONG_BINPUT
        const i = op === 0x71 ? data[need(1)]! : data.readUInt32LE(need(4));
        memo.set(i, top());
        break;
      }
      case 0x2e: {
        // STOP
        const v = pop();
        return v;
      }
      default:
        throw new CheckpointError(
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1} (torch's weights_only loader refuses it too)`,
        );
    }
  }
}
