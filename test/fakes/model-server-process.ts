/**
 * A stand-in for `vllm serve`, run as a real child process by the process-launcher tests
 * (`node --import tsx test/fakes/model-server-process.ts --port N ...`). It speaks just enough
 * OpenAI (GET /v1/models, POST /v1/chat/completions) and misbehaves on request:
 *   --ready-delay-ms N   listen only after N ms (connection refused until then, like vLLM loading)
 *   --crash-after N      exit with --crash-code after N chat completions, printing a fatal line first
 *   --exit-before-ready C  print a few lines and exit with code C before listening
 *   --ignore-sigterm     survive SIGTERM (so the launcher must SIGKILL the group)
 *   --spawn-child        fork a grandchild into the same process group (it must die too)
 *   --log-lines N        print N numbered boot lines
 *   --record FILE        write {pid, argv, cudaVisibleDevices, childPid, env keys} as JSON
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    name: { type: 'string', default: 'fake-model' },
    'ready-delay-ms': { type: 'string', default: '0' },
    'crash-after': { type: 'string', default: '0' },
    'crash-code': { type: 'string', default: '3' },
    'exit-before-ready': { type: 'string' },
    'ignore-sigterm': { type: 'boolean', default: false },
    'spawn-child': { type: 'boolean', default: false },
    'log-lines': { type: 'string', default: '0' },
    record: { type: 'string' },
  },
  allowPositionals: true,
  strict: false,
});

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const port = Number(str(values.port));
const name = str(values.name) ?? 'fake-model';
const log = (line: string) => process.stdout.write(`${line}\n`);

let childPid: number | undefined;
if (values['spawn-child']) {
  const code = values['ignore-sigterm']
    ? "process.on('SIGTERM',()=>{});setInterval(()=>{},1000)"
    : 'setInterval(()=>{},1000)';
  childPid = spawn(process.execPath, ['-e', code], { stdio: 'ignore' }).pid;
}
const record = str(values.record);
if (record) {
  writeFileSync(
    record,
    JSON.stringify({
      pid: process.pid,
      argv: process.argv.slice(2),
      cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null,
      childPid: childPid ?? null,
      envKeys: Object.keys(process.env),
    }),
  );
}

if (values['ignore-sigterm']) process.on('SIGTERM', () => log('fake-server: got SIGTERM, ignoring it'));
else
  process.on('SIGTERM', () => {
    log('fake-server: got SIGTERM, shutting down');
    process.exit(0);
  });

log(`fake-server: starting ${name} on port ${port} (CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES ?? ''})`);
for (let i = 1; i <= Number(str(values['log-lines'])); i++) log(`fake-server: boot line ${i}`);

const exitBeforeReady = str(values['exit-before-ready']);
if (exitBeforeReady !== undefined) {
  process.stderr.write('fake-server: FATAL torch.OutOfMemoryError: CUDA out of memory (simulated)\n');
  process.exit(Number(exitBeforeReady));
}

const crashAfter = Number(str(values['crash-after']));
let chats = 0;
const server = createServer((req, res) => {
  let raw = '';
  req.on('data', (c: Buffer) => (raw += c.toString()));
  req.on('end', () => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/v1/models')
      return json(200, { object: 'list', data: [{ id: name, object: 'model', owned_by: 'fake' }] });
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      chats += 1;
      log(`fake-server: chat request ${chats}`);
      if (crashAfter > 0 && chats >= crashAfter) {
        process.stderr.write(`fake-server: FATAL engine died after ${chats} requests (simulated)\n`);
        process.exit(Number(str(values['crash-code'])));
      }
      const body = JSON.parse(raw || '{}') as { model?: string };
      return json(200, {
        id: `chatcmpl-${chats}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: body.model ?? name,
        choices: [{ index: 0, message: { role: 'assistant', content: 'fake answer' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      });
    }
    json(404, { detail: 'Not Found' });
  });
});

setTimeout(
  () => {
    server.listen(port, '127.0.0.1', () => log('fake-server: ready'));
  },
  Number(str(values['ready-delay-ms'])),
);
