/** Generating the candidate's answer to one turn (or reusing a stored one). */
import { FASTCHAT_MAX_NEW_TOKENS, generationTemperature, sentTemperature } from './benchmark.js';
import { isEndpointError } from './errors.js';
import type { ChatMessage, ChatRequest, ChatResult } from './ports.js';
import { reusableAnswer } from './resume.js';
import type { RunContext } from './run-context.js';
import type { AnswerRecord, BenchmarkQuestion } from './types.js';

/** FastChat common.py API_ERROR_OUTPUT: the answer recorded when the endpoint refuses a question. */
export const API_ERROR_OUTPUT = '$ERROR$';

export function createAnswering({ bench, candidate, stored, c, signal, call, keep, now }: RunContext) {
  return async function answer(
    q: BenchmarkQuestion,
    turn: number,
    prior: readonly AnswerRecord[],
  ): Promise<AnswerRecord> {
    const key = `answer/${String(q.questionId)}/${turn}`;
    const old = reusableAnswer(stored, key, candidate.model, prior);
    if (old) {
      c.answersResumed += 1;
      await keep(old, false);
      return old;
    }
    const messages: ChatMessage[] = candidate.systemPrompt ? [{ role: 'system', content: candidate.systemPrompt }] : [];
    prior.forEach((p, i) =>
      messages.push({ role: 'user', content: q.turns[i]! }, { role: 'assistant', content: p.content }),
    );
    messages.push({ role: 'user', content: q.turns[turn - 1]! });
    const req: ChatRequest = {
      model: candidate.model,
      messages,
      temperature: sentTemperature(generationTemperature(bench, q.category)),
      max_tokens: bench.maxTokens ?? FASTCHAT_MAX_NEW_TOKENS,
    };
    // Turn 1 first (turn 2 only becomes ready later, so this keeps every slot fed), unless the judge would idle.
    let res: ChatResult;
    let error: string | undefined;
    try {
      res = await call('candidate', req, turn > 1 ? 1 : 0);
    } catch (err) {
      // FastChat records API_ERROR_OUTPUT and goes on: one refused question (a 400, e.g. prompt +
      // max_tokens over the server's context) is an invalid answer, not a failed evaluation.
      if (!(isEndpointError(err) && err.status === 400 && !signal.aborted)) throw err;
      error = err.message;
      res = { content: API_ERROR_OUTPUT, usage: { promptTokens: 0, completionTokens: 0 } };
    }
    const record: AnswerRecord = {
      kind: 'answer',
      key,
      questionId: q.questionId,
      turn,
      model: candidate.model,
      content: res.content,
      ...(error !== undefined ? { error } : {}),
      params: { model: req.model, temperature: req.temperature, max_tokens: req.max_tokens },
      usage: res.usage,
      tstamp: now() / 1000,
    };
    await keep(record, true);
    return record;
  };
}
