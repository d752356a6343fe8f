import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeUrl } from '../../../src/api/url.ts';

test('normalizeUrl: .json suffix, trailing and doubled slashes; query untouched', () => {
  const cases: [string, string][] = [
    ['/tunes', '/tunes'],
    ['/tunes/', '/tunes'],
    ['//tunes', '/tunes'],
    ['/tunes.json', '/tunes'],
    ['/tunes/1.json', '/tunes/1'],
    ['//tunes//1/prompts/', '/tunes/1/prompts'],
    ['/prompts/55.json?x=a//b.json', '/prompts/55?x=a//b.json'],
    ['/', '/'],
    ['/images/1/2/abc.jpg', '/images/1/2/abc.jpg'],
    ['/p/slug.JSON', '/p/slug'],
  ];
  for (const [a, b] of cases) assert.equal(normalizeUrl(a), b, a);
});
