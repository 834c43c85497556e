/**
 * Where each built-in benchmark's files come from: upstream raw URLs pinned to a commit, with the
 * sha256 of the exact bytes (computed from the verified copies in ../shared), and the relative paths
 * under which a local data directory may hold them.
 */

export interface DataFile {
  /** Logical name used in checksums and messages. */
  id: string;
  url: string;
  sha256: string;
  /** Paths tried under a local data directory, first hit wins. */
  local: string[];
  /** Human-readable provenance recorded as referenceSet / promptSet. */
  source: string;
}

export interface BenchmarkSource {
  questions: DataFile;
  judgePrompts: DataFile;
  references: Record<string, DataFile>;
  defaultReference: string;
}

const FASTCHAT = 'https://raw.githubusercontent.com/lm-sys/FastChat';
const SAI = 'https://raw.githubusercontent.com/Stability-AI/FastChat';
const SWALLOW = 'https://raw.githubusercontent.com/swallow-llm/swallow-evaluation';

export const BENCHMARK_SOURCES = {
  'mt-bench': {
    questions: {
      id: 'question.jsonl',
      url: `${FASTCHAT}/b494d0c6b4e7935f1764f8439e75da3e66beccc7/fastchat/llm_judge/data/mt_bench/question.jsonl`,
      sha256: '119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7',
      local: ['question.jsonl', 'mt_bench/question.jsonl', 'mt-bench/question.jsonl'],
      source: 'lm-sys/FastChat@b494d0c6 data/mt_bench/question.jsonl',
    },
    judgePrompts: {
      id: 'judge_prompts.jsonl',
      url: `${FASTCHAT}/7ad1d6386288ba1a7862c11feb673425713eea5b/fastchat/llm_judge/data/judge_prompts.jsonl`,
      sha256: 'fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6',
      local: ['judge_prompts.jsonl', 'mt-bench/judge_prompts.jsonl'],
      source: 'lm-sys/FastChat@7ad1d638 data/judge_prompts.jsonl',
    },
    references: {
      // What LMSYS used (judge "gpt-4"); known to be wrong on some questions, kept for comparability.
      'gpt-4': {
        id: 'reference_answer/gpt-4.jsonl',
        url: `${FASTCHAT}/b494d0c6b4e7935f1764f8439e75da3e66beccc7/fastchat/llm_judge/data/mt_bench/reference_answer/gpt-4.jsonl`,
        sha256: 'f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f',
        local: [
          'reference_answer/gpt-4.jsonl',
          'mt_bench/reference_answer/gpt-4.jsonl',
          'mt-bench/reference_answer/gpt-4.jsonl',
        ],
        source: 'lm-sys/FastChat@b494d0c6 reference_answer/gpt-4.jsonl',
      },
      // Opt-in corrected references from the unmerged FastChat PR #3158.
      'gpt-4-0125-preview': {
        id: 'reference_answer/gpt-4-0125-preview.jsonl',
        url: `${FASTCHAT}/71aa329da2b17f387929ae6f5b3a453804e885cd/fastchat/llm_judge/data/mt_bench/reference_answer/gpt-4-0125-preview.jsonl`,
        sha256: 'e484037da5cc14007dde1d821ef76046fccbd0b2f095237fad9ead2c4fc66800',
        local: [
          'reference_answer/gpt-4-0125-preview.jsonl',
          'alternatives/pr3158/gpt-4-0125-preview.jsonl',
          'mt-bench/alternatives/pr3158/gpt-4-0125-preview.jsonl',
        ],
        source: 'lm-sys/FastChat PR #3158 @71aa329d reference_answer/gpt-4-0125-preview.jsonl',
      },
    },
    defaultReference: 'gpt-4',
  },
  // Questions and references from Stability-AI jp-stable (Apache-2.0); the 8 Japanese-aware judge
  // prompts from swallow-evaluation's Apache-2.0 fastchat subtree (same text as Nejumi 3's copy,
  // whose repository has no licence file).
  'japanese-mt-bench': {
    questions: {
      id: 'question_full.jsonl',
      url: `${SAI}/2ef016ea0e5243f4dc7f4b73ffcc28bed4b05ac7/fastchat/llm_judge/data/japanese_mt_bench/question_full.jsonl`,
      sha256: '8f56c8bd5ff93d2120409bc8f77f0020e673c74548c9637f2aace12a323834e5',
      local: [
        'question_full.jsonl',
        'stability-ai-jp-stable/question_full.jsonl',
        'japanese_mt_bench/question_full.jsonl',
        'mt-bench-ja/stability-ai-jp-stable/question_full.jsonl',
        'question.jsonl',
      ],
      source: 'Stability-AI/FastChat@2ef016ea data/japanese_mt_bench/question_full.jsonl',
    },
    judgePrompts: {
      id: 'judge_prompts.jsonl',
      url: `${SWALLOW}/7b91abc2ec52115e1892c55f244270e4d72737c7/fastchat/fastchat/llm_judge/data/judge_prompts.jsonl`,
      sha256: '87a9429bdfd776db887f4820f186f6943fa003ec90eec272cb96ff140bfcd7d8',
      local: [
        'judge_prompts.jsonl',
        'swallow-nejumi4/judge_prompts.jsonl',
        'mt-bench-ja/swallow-nejumi4/judge_prompts.jsonl',
      ],
      source:
        'swallow-llm/swallow-evaluation@7b91abc2 fastchat judge_prompts.jsonl (Japanese-aware, = Nejumi 3 prompts)',
    },
    references: {
      // Nejumi 3's reference set: GPT-4o answers corrected by humans.
      'base-gpt4o-with-human-annotation': {
        id: 'reference_answer/base-gpt4o-with-human-annotation.jsonl',
        url: `${SAI}/2ef016ea0e5243f4dc7f4b73ffcc28bed4b05ac7/fastchat/llm_judge/data/japanese_mt_bench/reference_answer/base-gpt4o-with-human-annotation.jsonl`,
        sha256: '8ea6c0b82073908f94b57f67918de5f11286e1dd7334b366ecf47a2c9b774996',
        local: [
          'reference_answer/base-gpt4o-with-human-annotation.jsonl',
          'stability-ai-jp-stable/reference_answer/base-gpt4o-with-human-annotation.jsonl',
          'mt-bench-ja/stability-ai-jp-stable/reference_answer/base-gpt4o-with-human-annotation.jsonl',
        ],
        source: 'Stability-AI/FastChat@2ef016ea reference_answer/base-gpt4o-with-human-annotation.jsonl',
      },
      // Nejumi 4's reference set (swallow-evaluation a0b7319).
      'gpt-4o-2024-08-06': {
        id: 'reference_answer/gpt-4o-2024-08-06.jsonl',
        url: `${SWALLOW}/a0b7319c4cafed089eedfd66d1e70c09f39ad1ad/fastchat/fastchat/llm_judge/data/japanese_mt_bench/reference_answer/gpt-4o-2024-08-06.jsonl`,
        sha256: '237ce7a7eb6de8493b21a708a5dcaf5bce99155a038d898b5454e14c4f4a654c',
        local: [
          'reference_answer/gpt-4o-2024-08-06.jsonl',
          'swallow-nejumi4/reference_answer/gpt-4o-2024-08-06.jsonl',
          'mt-bench-ja/swallow-nejumi4/reference_answer/gpt-4o-2024-08-06.jsonl',
        ],
        source: 'swallow-llm/swallow-evaluation@a0b7319c reference_answer/gpt-4o-2024-08-06.jsonl',
      },
    },
    defaultReference: 'base-gpt4o-with-human-annotation',
  },
} satisfies Record<string, BenchmarkSource>;

export type BuiltinBenchmark = keyof typeof BENCHMARK_SOURCES;
