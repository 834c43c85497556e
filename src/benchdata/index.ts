/** Benchmark data adapter: local FastChat-layout directories or pinned, checksum-verified downloads. */
export { loadBenchmark } from './load.js';
export { BENCHMARK_SOURCES, type BuiltinBenchmark } from './sources.js';
export { loadBaselineAnswers } from './baseline.js';
