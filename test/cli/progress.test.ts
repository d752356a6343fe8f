// The progress reporter: a redrawn bar on a terminal, short plain lines elsewhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bar, describe, ProgressReporter } from '../../src/cli/commands/progress.ts';

function sink(isTTY: boolean, columns = 100) {
  const writes: string[] = [];
  return { out: { write: (s: string) => writes.push(s), isTTY, columns }, writes };
}

test('bar fills proportionally and clamps', () => {
  assert.equal(bar(0, 4), '[░░░░]');
  assert.equal(bar(0.5, 4), '[██░░]');
  assert.equal(bar(1.7, 4), '[████]');
  assert.equal(bar(Number.NaN, 4), '[░░░░]');
  assert.equal(
    describe({ status: 'processing', progress: 0.4, phase: 'denoising', step: 12, total: 30 }),
    'processing · denoising 12/30',
  );
  assert.equal(describe({ status: 'queued', progress: 0 }), 'queued');
  assert.equal(describe({ status: 'queued', progress: 0, queuePosition: 3 }), 'queued (position 3)');
  assert.equal(describe({ status: 'processing', progress: 0.1, queuePosition: null }), 'processing');
});

test('not a terminal: one line per status/phase change or 10 % step, no control characters', () => {
  const { out, writes } = sink(false);
  const r = new ProgressReporter(out, 'prompt 3');
  for (const [status, progress] of [
    ['queued', 0],
    ['queued', 0],
    ['processing', 0.01],
    ['processing', 0.05],
    ['processing', 0.12],
    ['processing', 0.19],
    ['processing', 0.5],
    ['completed', 1],
  ] as const)
    r.update({ status, progress });
  r.finish();
  assert.deepEqual(writes, [
    'prompt 3: queued 0%\n',
    'prompt 3: processing 1%\n',
    'prompt 3: processing 12%\n',
    'prompt 3: processing 50%\n',
    'prompt 3: completed 100%\n',
  ]);
});

test('terminal: redraws in place, fits the width, ends with a newline', () => {
  const { out, writes } = sink(true, 50);
  const r = new ProgressReporter(out, 'tune 9');
  r.update({ status: 'training', progress: 0.25, phase: 'training', step: 250, total: 1000 });
  r.update({ status: 'trained', progress: 1 });
  r.finish();
  assert.equal(writes.length, 3);
  assert.ok(writes[0].startsWith('\r\u001b[2Ktune 9  [██████░░░░░░░░░░░░░░░░░░]  25%'));
  assert.ok(writes[0].length - '\r\u001b[2K'.length <= 49, 'truncated to the terminal width');
  assert.equal(writes[1], '\r\u001b[2Ktune 9  [████████████████████████] 100%  trained');
  assert.equal(writes[2], '\n');
  const quiet = sink(true);
  const q = new ProgressReporter(quiet.out, 'x', false);
  q.update({ status: 'queued', progress: 0 });
  q.finish();
  assert.deepEqual(quiet.writes, []);
});

test('not a terminal: a new line each time the queue position changes', () => {
  const { out, writes } = sink(false);
  const r = new ProgressReporter(out, 'prompt 4');
  for (const queuePosition of [3, 3, 2, 1]) r.update({ status: 'queued', progress: 0, queuePosition });
  r.update({ status: 'processing', progress: 0.2, queuePosition: null });
  assert.deepEqual(writes, [
    'prompt 4: queued (position 3) 0%\n',
    'prompt 4: queued (position 2) 0%\n',
    'prompt 4: queued (position 1) 0%\n',
    'prompt 4: processing 20%\n',
  ]);
});
