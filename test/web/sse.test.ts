// The event-stream parser follows the WHATWG rules: any line ending, chunk boundaries anywhere, comments,
// multi-line data, event names and ids.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeProgress, parseProgress } from '../../web/src/api/progress.ts';
import { readEventStream, type SseEvent, SseParser } from '../../web/src/api/sse.ts';

const STREAM =
  ': keep-alive\r\n\r\n' +
  'event: progress\r\ndata: {"step":3,"steps":30}\r\n\r\n' +
  'id: 7\ndata: line one\ndata: line two\n\n' +
  'data:no-space\r\r' +
  'retry: 1000\nunknown: x\n\n' +
  'data: tail';

const EXPECTED: SseEvent[] = [
  { event: 'progress', data: '{"step":3,"steps":30}', id: undefined },
  { event: 'message', data: 'line one\nline two', id: '7' },
  { event: 'message', data: 'no-space', id: '7' },
];

test('whole stream at once', () => {
  assert.deepEqual(new SseParser().push(STREAM), EXPECTED);
});

test('the same events whatever the chunking (every split point, including inside CRLF)', () => {
  for (let cut = 0; cut <= STREAM.length; cut++) {
    const p = new SseParser();
    const got = [...p.push(STREAM.slice(0, cut)), ...p.push(STREAM.slice(cut))];
    assert.deepEqual(got, EXPECTED, `split at ${cut}`);
  }
  const p = new SseParser();
  const oneByOne = [...STREAM].flatMap((ch) => p.push(ch));
  assert.deepEqual(oneByOne, EXPECTED);
});

test('readEventStream decodes UTF-8 split across chunks', async () => {
  const bytes = new TextEncoder().encode('data: {"phase":"débruitage ✓"}\n\n');
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 3) c.enqueue(bytes.subarray(i, i + 3));
      c.close();
    },
  });
  const events: SseEvent[] = [];
  await readEventStream(body, (e) => events.push(e));
  assert.equal(events.length, 1);
  assert.equal(parseProgress(events[0])?.phase, 'débruitage ✓');
});

test('progress from flat, wrapped and nested event shapes', () => {
  const ev = (data: unknown, event = 'message'): SseEvent => ({ event, data: JSON.stringify(data) });
  assert.deepEqual(parseProgress(ev({ status: 'processing', step: 5, steps: 20 })), {
    status: 'processing',
    progress: 0.25,
    step: 5,
    steps: 20,
    phase: undefined,
    queuePosition: undefined,
    error: undefined,
  });
  assert.equal(parseProgress(ev({ prompt: { status: 'completed', progress: 1 } }))?.status, 'completed');
  assert.equal(parseProgress(ev({ progress: { step: 2, total: 8, phase: 'denoise' } }))?.progress, 0.25);
  assert.equal(parseProgress(ev({ queue_position: 3 }, 'queued'))?.queuePosition, 3);
  assert.equal(parseProgress({ event: 'message', data: 'not json' }), null);
  assert.equal(describeProgress({ status: 'queued', queuePosition: 3 }), 'Queued (position 3)');
  assert.equal(describeProgress({ status: 'queued', queuePosition: 3, progress: 0 }), 'Queued (position 3)');
  assert.equal(describeProgress({ status: 'queued', progress: 0 }), 'Queued');
  assert.equal(
    describeProgress({ status: 'processing', step: 5, steps: 20, phase: 'denoise' }),
    'Processing · step 5 of 20 · denoise',
  );
  assert.equal(describeProgress({ status: 'training', progress: 0.5 }), 'Training · 50%');
});
