/**
 * A data-only unpickler for the pickle inside a PyTorch checkpoint. It accepts exactly the opcodes
 * and globals `torch.load(weights_only=True)` accepts in torch 2.x (torch/_weights_only_unpickler.py)
 * and nothing else. Globals are never looked up or called: GLOBAL pushes an inert name, and
 * REDUCE/NEWOBJ dispatch on that name through the fixed table below, each entry building plain
 * data (maps, arrays, tensor descriptions). Any other name is a CheckpointError naming it.
 */
import { CheckpointError } from './errors.js';

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
/** A name the pickle referred to (class, function, dtype); inert data, never resolved to code. */
export class PyGlobal {
  constructor(readonly path: string) {}
}
export class PySet {
  constructor(readonly items: PyValue[]) {}
}
export class PyComplex {
  constructor(
    readonly re: number,
    readonly im: number,
  ) {}
}

/** The element types a storage may hold; only F32/BF16/F16 are convertible adapter weights. */
export const STORAGE_DTYPES = {
  FloatStorage: { dtype: 'F32', bytes: 4 },
  BFloat16Storage: { dtype: 'BF16', bytes: 2 },
  HalfStorage: { dtype: 'F16', bytes: 2 },
  DoubleStorage: { dtype: 'F64', bytes: 8 },
  LongStorage: { dtype: 'I64', bytes: 8 },
  IntStorage: { dtype: 'I32', bytes: 4 },
  ShortStorage: { dtype: 'I16', bytes: 2 },
  CharStorage: { dtype: 'I8', bytes: 1 },
  ByteStorage: { dtype: 'U8', bytes: 1 },
  BoolStorage: { dtype: 'BOOL', bytes: 1 },
} as const;
export type Dtype = (typeof STORAGE_DTYPES)[keyof typeof STORAGE_DTYPES]['dtype'];

export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: Dtype,
    readonly elementBytes: number,
    readonly numel: number,
  ) {}
}

/** A dense tensor view over a storage (the bytes live in the zip under data/<key>). */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | PyValue[]
  | Map<PyValue, PyValue>
  | PyTuple
  | PySet
  | PyComplex
  | PyGlobal
  | StorageRef
  | TensorRef;

// torch 2.x _get_allowed_globals(), by full name. Those marked `unsupported` are allowed by torch but
// describe things an adapter never holds (quantized, sparse, meta, subclass tensors): refused by name.
const STORAGE_CLASSES = [
  ...Object.keys(STORAGE_DTYPES),
  'ComplexFloatStorage',
  'ComplexDoubleStorage',
  'QUInt8Storage',
  'QInt8Storage',
  'QInt32Storage',
  'QUInt4x2Storage',
  'QUInt2x4Storage',
];
const TENSOR_CLASSES = [
  'Float',
  'Double',
  'Half',
  'BFloat16',
  'Long',
  'Int',
  'Short',
  'Char',
  'Byte',
  'Bool',
  'ComplexFloat',
  'ComplexDouble',
].map((t) => `torch.${t}Tensor`);
const DTYPES = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'complex32',
  'complex64',
  'complex128',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
  'qint8',
  'quint8',
  'qint32',
  'quint4x2',
  'quint2x4',
  'float8_e5m2',
  'float8_e4m3fn',
  'float8_e5m2fnuz',
  'float8_e4m3fnuz',
  'bits8',
  'bits16',
  'bits1x8',
  'bits2x4',
  'bits4x2',
  'uint16',
  'uint32',
  'uint64',
  'uint1',
  'uint2',
  'uint3',
  'uint4',
  'uint5',
  'uint6',
  'uint7',
  'int1',
  'int2',
  'int3',
  'int4',
  'int5',
  'int6',
  'int7',
].map((d) => `torch.${d}`);
const UNSUPPORTED_REBUILDS = [
  '_rebuild_qtensor',
  '_rebuild_sparse_tensor',
  '_rebuild_meta_tensor_no_storage',
  '_rebuild_wrapper_subclass',
  '_rebuild_device_tensor_from_numpy',
  '_rebuild_device_tensor_from_cpu_tensor',
  '_rebuild_tensor_v3',
].map((f) => `torch._utils.${f}`);
const QSCHEMES = [
  'per_tensor_affine',
  'per_tensor_symmetric',
  'per_channel_affine',
  'per_channel_symmetric',
  'per_channel_affine_float_qparams',
].map((q) => `torch.${q}`);

/** Allowed names that are values only (pushed, compared, never called). */
const INERT = new Set<string>([
  ...STORAGE_CLASSES.map((s) => `torch.${s}`),
  'torch.storage.TypedStorage',
  'torch.storage.UntypedStorage',
  ...TENSOR_CLASSES,
  ...DTYPES,
  ...QSCHEMES,
  'torch.Tensor',
  'torch.nn.parameter.Parameter',
]);
const BLOCKED_MODULES = new Set(['sys', 'os', 'posix', 'nt']);

type Handler = (args: PyValue[]) => PyValue;

const num = (v: PyValue | undefined, what: string): number => {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  throw new CheckpointError(`malformed tensor: ${what} is not a non-negative integer`);
};
const ints = (v: PyValue | undefined, what: string): number[] => {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (!items) throw new CheckpointError(`malformed tensor: ${what} is not a tuple`);
  return items.map((x, i) => num(x, `${what}[${i}]`));
};

function rebuildTensor(args: PyValue[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef))
    throw new CheckpointError('malformed tensor: its storage is not a persistent storage reference');
  const t = new TensorRef(storage, num(offset, 'storage offset'), ints(size, 'size'), ints(stride, 'stride'));
  if (t.shape.length !== t.stride.length)
    throw new CheckpointError('malformed tensor: size and stride differ in length');
  // The furthest element must lie inside the storage: no read past what the file declares.
  const last = t.shape.some((d) => d === 0)
    ? -1
    : t.offset + t.shape.reduce((acc, d, i) => acc + (d - 1) * t.stride[i]!, 0);
  if (last >= storage.numel)
    throw new CheckpointError(`malformed tensor: it reaches element ${last} of a storage of ${storage.numel}`);
  return t;
}

const tensorArg = (v: PyValue | undefined): TensorRef => {
  if (v instanceof TensorRef) return v;
  throw new CheckpointError('malformed parameter: it holds no tensor');
};

/** The callable allowed globals, each building data from data. Nothing else can be called. */
const CALLS: Record<string, Handler> = {
  'collections.OrderedDict': (args) => dictFrom(args[0]),
  'collections.Counter': (args) => dictFrom(args[0]),
  'builtins.set': (args) => new PySet(args[0] === undefined ? [] : listOf(args[0])),
  'builtins.bytearray': (args) => (Buffer.isBuffer(args[0]) ? Buffer.from(args[0]) : Buffer.alloc(0)),
  'builtins.complex': (args) => new PyComplex(Number(args[0] ?? 0), Number(args[1] ?? 0)),
  '_codecs.encode': (args) => {
    if (typeof args[0] !== 'string') throw new CheckpointError('_codecs.encode expects a string');
    return Buffer.from(args[0], 'latin1');
  },
  'torch.Size': (args) => new PyTuple(args[0] === undefined ? [] : listOf(args[0])),
  'torch.device': (args) => args.map(String).join(':'),
  'torch.serialization._get_layout': (args) => String(args[0]),
  'torch._utils._rebuild_tensor': rebuildTensor,
  'torch._utils._rebuild_tensor_v2': rebuildTensor,
  'torch._utils._rebuild_parameter': (args) => tensorArg(args[0]),
  'torch._utils._rebuild_parameter_with_state': (args) => tensorArg(args[0]),
  'torch._tensor._rebuild_from_type_v2': (args) => {
    const [func, type, inner] = args;
    if (!(type instanceof PyGlobal) || (type.path !== 'torch.Tensor' && type.path !== 'torch.nn.parameter.Parameter')) {
      throw new CheckpointError(
        `refusing a tensor subclass (${type instanceof PyGlobal ? type.path : 'unknown'}): only plain tensors are read`,
      );
    }
    if (!(func instanceof PyGlobal) || !(inner instanceof PyTuple))
      throw new CheckpointError('malformed _rebuild_from_type_v2 call');
    return call(func, inner.items);
  },
};

function listOf(v: PyValue): PyValue[] {
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple || v instanceof PySet) return v.items;
  throw new CheckpointError('expected a list or tuple');
}

function dictFrom(v: PyValue | undefined): Map<PyValue, PyValue> {
  if (v === undefined) return new Map();
  if (v instanceof Map) return new Map(v);
  const out = new Map<PyValue, PyValue>();
  for (const pair of listOf(v)) {
    const kv = listOf(pair);
    if (kv.length !== 2) throw new CheckpointError('expected key/value pairs');
    out.set(kv[0]!, kv[1]!);
  }
  return out;
}

/** Why a global is refused: torch's own rules, then evalhook's narrower reading of allowed ones. */
function refusal(path: string): CheckpointError {
  const module = path.slice(0, path.lastIndexOf('.'));
  if (BLOCKED_MODULES.has(module)) {
    return new CheckpointError(
      `refusing global ${path}: module ${module} is never allowed (torch.load(weights_only=True) blocks it too); nothing in the checkpoint was run`,
    );
  }
  if (
    UNSUPPORTED_REBUILDS.includes(path) ||
    STORAGE_CLASSES.slice(Object.keys(STORAGE_DTYPES).length).some((s) => path === `torch.${s}`)
  ) {
    return new CheckpointError(
      `refusing global ${path}: allowed by torch's weights_only loader, but evalhook reads only dense float/integer tensors`,
    );
  }
  return new CheckpointError(
    `refusing global ${path}: not allowed by torch.load(weights_only=True), so not a plain state dict (save the adapter's state_dict(), not a module or object); nothing in the checkpoint was run`,
  );
}

function call(fn: PyValue | undefined, args: PyValue[]): PyValue {
  if (!(fn instanceof PyGlobal)) throw new CheckpointError('REDUCE on something that is not an allowed global');
  const handler = Object.hasOwn(CALLS, fn.path) ? CALLS[fn.path] : undefined;
  if (!handler) {
    if (INERT.has(fn.path))
      throw new CheckpointError(
        `refusing to call ${fn.path}: torch's weights_only loader only builds it through the rebuild functions`,
      );
    throw refusal(fn.path);
  }
  return handler(args);
}

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
        if (!Object.hasOwn(CALLS, path) && !INERT.has(path)) throw refusal(path);
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

/** The storage class of a persistent id, by name; the dtype table above is the only source. */
export function storageDtype(cls: PyValue | undefined): { dtype: Dtype; bytes: number } {
  const path = cls instanceof PyGlobal ? cls.path : '';
  const name = path.startsWith('torch.') ? path.slice('torch.'.length) : '';
  const entry = Object.hasOwn(STORAGE_DTYPES, name) ? STORAGE_DTYPES[name as keyof typeof STORAGE_DTYPES] : undefined;
  if (!entry) throw path ? refusal(path) : new CheckpointError('malformed storage reference');
  return entry;
}
