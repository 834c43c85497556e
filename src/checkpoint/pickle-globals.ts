/**
 * What the data-only unpickler (pickle.ts) may meet: the value types it builds, the storage dtypes,
 * and the allow-list of globals torch 2.x's weights_only loader accepts
 * (torch/_weights_only_unpickler.py). Each callable global maps to a builder of plain data; a name
 * outside the table is a CheckpointError naming it. Nothing here is ever looked up or executed.
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

export const tensorArg = (v: PyValue | undefined): TensorRef => {
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
export function refusal(path: string): CheckpointError {
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

export function call(fn: PyValue | undefined, args: PyValue[]): PyValue {
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

/** The storage class of a persistent id, by name; the dtype table above is the only source. */
export function storageDtype(cls: PyValue | undefined): { dtype: Dtype; bytes: number } {
  const path = cls instanceof PyGlobal ? cls.path : '';
  const name = path.startsWith('torch.') ? path.slice('torch.'.length) : '';
  const entry = Object.hasOwn(STORAGE_DTYPES, name) ? STORAGE_DTYPES[name as keyof typeof STORAGE_DTYPES] : undefined;
  if (!entry) throw path ? refusal(path) : new CheckpointError('malformed storage reference');
  return entry;
}

/** Whether GLOBAL may push this name: a callable builder of the table, or an inert value. */
export function isAllowedGlobal(path: string): boolean {
  return Object.hasOwn(CALLS, path) || INERT.has(path);
}
