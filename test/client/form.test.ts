// Rails-style form encoding of nested request objects, as the server's bracket parser reads them back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nestFields } from '../../src/api/body/brackets.ts';
import { file, flatten, toFormData } from '../../src/client/form.ts';

test('nested objects, scalar arrays and object arrays get bracket names; text leads each element', () => {
  const entries = flatten('tune', {
    title: 'T',
    face_crop: true,
    steps: 500,
    skipped: undefined,
    image_urls: ['https://a/1.jpg', 'https://a/2.jpg'],
    characteristics: { eye_color: 'blue' },
    prompts_attributes: [
      { num_images: 2, text: 'ohwx man one' },
      { text: 'ohwx man two', super_resolution: true },
    ],
  });
  assert.deepEqual(entries, [
    ['tune[title]', 'T'],
    ['tune[face_crop]', 'true'],
    ['tune[steps]', '500'],
    ['tune[image_urls][]', 'https://a/1.jpg'],
    ['tune[image_urls][]', 'https://a/2.jpg'],
    ['tune[characteristics][eye_color]', 'blue'],
    ['tune[prompts_attributes][][text]', 'ohwx man one'],
    ['tune[prompts_attributes][][num_images]', '2'],
    ['tune[prompts_attributes][][text]', 'ohwx man two'],
    ['tune[prompts_attributes][][super_resolution]', 'true'],
  ]);
  // The server's parser reads the same structure back.
  // (JSON round trip: the parser builds null-prototype objects.)
  const nested = JSON.parse(JSON.stringify(nestFields(entries as [string, string][])));
  assert.deepEqual(nested.tune.prompts_attributes, [
    { text: 'ohwx man one', num_images: '2' },
    { text: 'ohwx man two', super_resolution: 'true' },
  ]);
  assert.deepEqual(nested.tune.characteristics, { eye_color: 'blue' });
});

test('files become named Blob parts', async () => {
  const fd = await toFormData({ prompt: { text: 'x', input_image: file(Buffer.from([1, 2, 3]), 'in') } });
  const part = fd.get('prompt[input_image]');
  assert.ok(part instanceof Blob);
  assert.equal((part as File).name, 'in');
  assert.deepEqual([...new Uint8Array(await part.arrayBuffer())], [1, 2, 3]);
  assert.equal(fd.get('prompt[text]'), 'x');
});
