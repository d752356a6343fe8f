import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AddressKind, classifyAddress, parseIp } from '../../../src/net/ip-ranges.ts';

const TABLE: [string, AddressKind, string?][] = [
  // IPv4
  ['8.8.8.8', 'public'],
  ['93.184.216.34', 'public'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['10.0.0.1', 'private'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private'],
  ['172.32.0.1', 'public'],
  ['192.168.1.1', 'private'],
  ['169.254.1.1', 'link-local'],
  ['169.254.169.254', 'metadata'],
  ['169.254.170.2', 'metadata'],
  ['100.64.0.1', 'cgnat'],
  ['100.127.255.255', 'cgnat'],
  ['100.128.0.1', 'public'],
  ['100.100.100.200', 'metadata'],
  ['168.63.129.16', 'metadata'],
  ['0.0.0.0', 'this-network'],
  ['0.1.2.3', 'this-network'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.255', 'reserved'],
  ['192.0.2.10', 'reserved'],
  ['198.18.0.1', 'reserved'],
  ['198.51.100.7', 'reserved'],
  ['203.0.113.9', 'reserved'],
  // IPv6
  ['2606:4700:4700::1111', 'public'],
  ['2a00:1450:4001:82b::200e', 'public'],
  ['::1', 'loopback'],
  ['::', 'this-network'],
  ['fc00::1', 'private'],
  ['fd12:3456::1', 'private'],
  ['fe80::1', 'link-local'],
  ['febf::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['fd00:ec2::254', 'metadata'],
  ['fd20:ce::254', 'metadata'],
  ['2001:db8::1', 'reserved'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'], // Teredo
  ['3fff::1', 'reserved'],
  ['100::1', 'reserved'],
  ['1::', 'reserved'], // outside 2000::/3
  ['64:ff9b:1::a00:1', 'private'],
  // IPv4 inside IPv6
  ['::ffff:127.0.0.1', 'loopback', 'IPv4-mapped IPv6'],
  ['::ffff:7f00:1', 'loopback', 'IPv4-mapped IPv6'],
  ['0:0:0:0:0:ffff:a00:1', 'private', 'IPv4-mapped IPv6'],
  ['::ffff:169.254.169.254', 'metadata', 'IPv4-mapped IPv6'],
  ['::ffff:8.8.8.8', 'public', 'IPv4-mapped IPv6'],
  ['::ffff:0:7f00:1', 'loopback', 'IPv4-translated IPv6'],
  ['::127.0.0.1', 'loopback', 'IPv4-compatible IPv6'],
  ['::7f00:1', 'loopback', 'IPv4-compatible IPv6'],
  ['::8.8.8.8', 'reserved', 'IPv4-compatible IPv6'],
  ['64:ff9b::10.0.0.1', 'private', 'NAT64'],
  ['64:ff9b::7f00:1', 'loopback', 'NAT64'],
  ['64:ff9b::8.8.8.8', 'public', 'NAT64'],
  ['2002:7f00:1::1', 'loopback', '6to4'],
  ['2002:c0a8:101::1', 'private', '6to4'],
  ['2002:808:808::1', 'public', '6to4'],
];

test('classifyAddress: special-purpose ranges, as a table', () => {
  for (const [ip, kind, via] of TABLE) {
    const c = classifyAddress(ip);
    assert.equal(c?.kind, kind, ip);
    assert.equal(c?.via, via, `${ip} via`);
  }
});

test('classifyAddress: not an IP → null', () => {
  for (const s of ['', 'localhost', '127.1', '2130706433', '::ffff:999.0.0.1', '1.2.3.4.5']) {
    assert.equal(classifyAddress(s), null, s);
  }
});

test('parseIp: textual forms agree byte for byte', () => {
  const hex = (s: string) => Buffer.from(parseIp(s)!).toString('hex');
  assert.equal(hex('::ffff:127.0.0.1'), hex('::ffff:7f00:1'));
  assert.equal(hex('::ffff:127.0.0.1'), '00000000000000000000ffff7f000001');
  assert.equal(hex('1:2:3:4:5:6:7:8'), '00010002000300040005000600070008');
  assert.equal(hex('1::8'), '00010000000000000000000000000008');
  assert.equal(hex('::'), '0'.repeat(32));
  assert.equal(hex('fe80::'), `fe80${'0'.repeat(28)}`);
  assert.equal(hex('10.1.2.3'), '0a010203');
});
