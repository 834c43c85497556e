/** Benchmark data adapter: local FastChat-layout directories or pinned, checksum-verified downloads. */
export { loadBenchmark, parseJsonl, BenchmarkDataError, type LoadBenchmarkOptions } from './load.js';
export { BENCHMARK_SOURCES, type BuiltinBenchmark, type BenchmarkSource, type DataFile } from './sources.js';
export { loadBaselineAnswers } from './baseline.js';
