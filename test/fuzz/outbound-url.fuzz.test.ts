// Property tests for the outbound URL check: every spelling of an IPv4 address (dotted, one decimal number, hex,
// octal, IPv4-mapped / NAT64 IPv6) is judged like the address itself, and arbitrary input never raises anything but
// OutboundBlockedError. No network: literal IPs need no DNS and names go through a fake lookup.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { checkOutboundUrl, OutboundBlockedError, type OutboundPolicy } from '../../src/net/guarded-fetch.ts';
import { classifyAddress } from '../../src/net/ip-ranges.ts';

const POLICY: OutboundPolicy = {
  allowPrivate: false,
  maxBytes: 1000,
  timeoutMs: 1000,
  maxRedirects: 0,
  lookup: async () => ['93.184.216.34'],
};

/** Biased towards the special ranges, so both outcomes are common. */
const ipv4 = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)),
  fc.tuple(
    fc.constantFrom(0, 10, 100, 127, 169, 172, 192, 198, 203, 224, 240, 255),
    fc.nat(255),
    fc.nat(255),
    fc.nat(255),
  ),
  fc.constantFrom<[number, number, number, number]>(
    [169, 254, 169, 254],
    [100, 100, 100, 200],
    [127, 0, 0, 1],
  ),
);

function spellings([a, b, c, d]: [number, number, number, number]): string[] {
  const n = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
  const hi = (a << 8) | b;
  const lo = (c << 8) | d;
  return [
    `${a}.${b}.${c}.${d}`,
    String(n),
    `0x${n.toString(16)}`,
    [a, b, c, d].map((x) => `0${x.toString(8)}`).join('.'),
    `${a}.${(b << 16) + (c << 8) + d}`,
    `0x${a.toString(16)}.${b}.0x${c.toString(16)}.${d}`,
    `[::ffff:${a}.${b}.${c}.${d}]`,
    `[::ffff:${hi.toString(16)}:${lo.toString(16)}]`,
  ];
}

async function outcome(url: string): Promise<string> {
  try {
    await checkOutboundUrl(url, POLICY);
    return 'public';
  } catch (e) {
    if (e instanceof OutboundBlockedError) return e.reason;
    throw e;
  }
}

test('every numeric spelling of an IPv4 address gets the verdict of the address itself', async () => {
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(ipv4, async (quad) => {
      const kind = classifyAddress(quad.join('.'))!.kind;
      if (kind !== 'public') refused += 1;
      for (const host of spellings(quad)) {
        assert.equal(await outcome(`http://${host}/x`), kind, `${host} (${quad.join('.')})`);
      }
    }),
    { numRuns: 800 },
  );
  assert.ok(refused > 100, `only ${refused} special addresses generated`);
});

test('NAT64 (64:ff9b::/96) of an IPv4 address is judged by that address', async () => {
  await fc.assert(
    fc.asyncProperty(ipv4, async (quad) => {
      const kind = classifyAddress(quad.join('.'))!.kind;
      assert.equal(await outcome(`https://[64:ff9b::${quad.join('.')}]/`), kind);
    }),
    { numRuns: 300 },
  );
});

test('arbitrary strings and URLs: the check resolves or throws OutboundBlockedError, nothing else', async () => {
  const input = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc
      .tuple(
        fc.constantFrom('http://', 'https://', 'ftp://', 'HTTP://', 'http:', '//'),
        fc.string({ maxLength: 30 }),
      )
      .map(([a, b]) => a + b),
    fc.ipV6().map((ip) => `http://[${ip}]/`),
    fc.ipV4Extended().map((ip) => `http://${ip}/`),
  );
  await fc.assert(
    fc.asyncProperty(input, async (url) => {
      const r = await outcome(url);
      assert.equal(typeof r, 'string');
    }),
    { numRuns: 1500 },
  );
});

test('IPv6 literals: refused unless global unicast', async () => {
  await fc.assert(
    fc.asyncProperty(fc.ipV6(), async (ip) => {
      const r = await outcome(`http://[${ip}]/`);
      const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
      assert.equal(r, classifyAddress(canonical)!.kind, ip);
    }),
    { numRuns: 800 },
  );
});
