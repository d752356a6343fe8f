// The event-stream decoder, as data tables: line endings split across chunks, comments, multi-line data, ids.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventStreamDecoder, readEvents } from '../../src/client/sse.ts';

test('events dispatch on a blank line whatever the line endings, even split across chunks', () => {
  const d = new EventStreamDecoder();
  const chunks = [
    'event: progress\r',
    '\ndata: {"a":',
    '1}\r\n\r',
    '\n',
    'data: x\n\n',
    'data: y\r\rdata: z\n',
  ];
  const got = chunks.flatMap((c) => d.feed(c));
  assert.deepEqual(got, [
    { event: 'progress', data: '{"a":1}', id: undefined },
    { event: 'message', data: 'x', id: undefined },
    { event: 'message', data: 'y', id: undefined },
  ]);
});

test('comments are skipped, data lines join with \\n, one leading space is dropped, ids persist', () => {
  const d = new EventStreamDecoder();
  const got = d.feed(': keepalive\n\nid: 7\ndata:  two spaces\ndata:b\n\nevent: done\ndata\n\n');
  assert.deepEqual(got, [
    { event: 'message', data: ' two spaces\nb', id: '7' },
    { event: 'done', data: '', id: '7' },
  ]);
});

test('an unterminated event at the end of the stream is not dispatched', async () => {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(enc.encode('data: one\n\ndata: é'));
      c.enqueue(enc.encode('tail'));
      c.close();
    },
  });
  const got = [];
  for await (const ev of readEvents(body)) got.push(ev.data);
  assert.deepEqual(got, ['one']);
});
