import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WakeableSleep } from '../../../src/jobs/wakeable-sleep.ts';

test('wake cuts a sleep short; a wake with nobody sleeping makes the next sleep return at once (once)', async () => {
  const s = new WakeableSleep();
  let done = false;
  const p = s.sleep(60_000).then(() => {
    done = true;
  });
  s.wake();
  await p;
  assert.ok(done);
  s.wake();
  await s.sleep(60_000); // returns at once: the wake was kept
  const order: string[] = [];
  const third = s.sleep(20).then(() => order.push('slept'));
  await Promise.resolve();
  order.push('after-microtask');
  await third;
  assert.deepEqual(order, ['after-microtask', 'slept'], 'the kept wake was used once');
});
