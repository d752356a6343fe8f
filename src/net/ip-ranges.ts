// Which IP addresses an outbound request may reach. Pure functions over address bytes, no DNS.
// Ranges: IANA IPv4/IPv6 Special-Purpose Address Registries (RFC 6890 and updates:
// https://www.iana.org/assignments/iana-ipv4-special-registry, …/iana-ipv6-special-registry),
// RFC 6598 (CGNAT 100.64/10), RFC 4193 (ULA fc00::/7), RFC 4291 §2.5.5 (IPv4-compatible / -mapped IPv6),
// RFC 6052 + RFC 8215 (NAT64 64:ff9b::/96, 64:ff9b:1::/48), RFC 3056 (6to4 2002::/16), RFC 9637 (3fff::/20).
// IPv6 outside 2000::/3 (global unicast) is not routable on the internet and is refused as reserved.
import { isIP } from 'node:net';

export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'this-network'
  | 'multicast'
  | 'reserved'
  | 'metadata';

export interface AddressClass {
  kind: AddressKind;
  /** How an IPv4 address was embedded in IPv6, when that decided the class ("IPv4-mapped", "NAT64", …). */
  via?: string;
  /** The IPv4 address that decided the class of an IPv6 form. */
  embedded?: string;
}

interface Range {
  bytes: Uint8Array;
  prefix: number;
  kind: AddressKind;
}

function range(cidr: string, kind: AddressKind): Range {
  const [addr, bits] = cidr.split('/');
  const bytes = parseIp(addr);
  if (!bytes) throw new Error(`bad range ${cidr}`);
  return { bytes, prefix: Number(bits), kind };
}

// Order matters: the first match wins (metadata hosts sit inside link-local / CGNAT / ULA ranges).
const IPV4_RANGES: Range[] = [
  range('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OpenStack instance metadata
  range('169.254.170.2/32', 'metadata'), // AWS ECS task metadata
  range('100.100.100.200/32', 'metadata'), // Alibaba Cloud metadata
  range('168.63.129.16/32', 'metadata'), // Azure WireServer (platform endpoint reachable from every VM)
  range('0.0.0.0/8', 'this-network'), // 0.0.0.0 connects to the local host on Linux
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'cgnat'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  range('192.0.2.0/24', 'reserved'), // TEST-NET-1
  range('192.88.99.0/24', 'reserved'), // 6to4 relay anycast (deprecated)
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'reserved'), // benchmarking
  range('198.51.100.0/24', 'reserved'), // TEST-NET-2
  range('203.0.113.0/24', 'reserved'), // TEST-NET-3
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved'), // incl. 255.255.255.255 broadcast
];

const IPV6_RANGES: Range[] = [
  range('fd00:ec2::254/128', 'metadata'), // AWS instance metadata over IPv6
  range('fd20:ce::254/128', 'metadata'), // GCP metadata over IPv6
  range('::/128', 'this-network'), // unspecified
  range('::1/128', 'loopback'),
  range('64:ff9b:1::/48', 'private'), // local-use NAT64
  range('100::/64', 'reserved'), // discard-only
  range('2001::/23', 'reserved'), // IETF protocol assignments: Teredo, ORCHID, benchmarking …
  range('2001:db8::/32', 'reserved'), // documentation
  range('3fff::/20', 'reserved'), // documentation
  range('fc00::/7', 'private'), // unique local
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'private'), // site-local (deprecated)
  range('ff00::/8', 'multicast'),
];
const GLOBAL_UNICAST = range('2000::/3', 'public');

/** IPv6 forms that carry an IPv4 address in their last 32 bits (or, for 6to4, bits 16–48). */
const EMBEDDING_FORMS: { range: Range; via: string; offset: number }[] = [
  { range: range('::ffff:0:0/96', 'public'), via: 'IPv4-mapped IPv6', offset: 12 },
  { range: range('::ffff:0:0:0/96', 'public'), via: 'IPv4-translated IPv6', offset: 12 },
  { range: range('64:ff9b::/96', 'public'), via: 'NAT64', offset: 12 },
  { range: range('2002::/16', 'public'), via: '6to4', offset: 2 },
];
const IPV4_COMPATIBLE = range('::/96', 'public');

export function classifyAddress(ip: string): AddressClass | null {
  const bytes = parseIp(ip);
  if (!bytes) return null;
  if (bytes.length === 4) return { kind: firstMatch(bytes, IPV4_RANGES) ?? 'public' };
  const direct = firstMatch(bytes, IPV6_RANGES.slice(0, 4)); // metadata, ::, ::1 before the embedding checks
  if (direct) return { kind: direct };
  for (const form of EMBEDDING_FORMS) {
    if (inRange(bytes, form.range)) return embedded(bytes, form.offset, form.via);
  }
  if (inRange(bytes, IPV4_COMPATIBLE)) {
    // Deprecated (RFC 4291 §2.5.5.1) and never a real internet destination: reserved unless the embedded
    // address names something more specific (::127.0.0.1 is reported as loopback).
    const c = embedded(bytes, 12, 'IPv4-compatible IPv6');
    return c.kind === 'public' ? { ...c, kind: 'reserved' } : c;
  }
  const kind = firstMatch(bytes, IPV6_RANGES);
  if (kind) return { kind };
  return { kind: inRange(bytes, GLOBAL_UNICAST) ? 'public' : 'reserved' };
}

function embedded(bytes: Uint8Array, offset: number, via: string): AddressClass {
  const v4 = bytes.subarray(offset, offset + 4);
  return { kind: firstMatch(v4, IPV4_RANGES) ?? 'public', via, embedded: v4.join('.') };
}

function firstMatch(bytes: Uint8Array, ranges: Range[]): AddressKind | undefined {
  return ranges.find((r) => inRange(bytes, r))?.kind;
}

function inRange(bytes: Uint8Array, r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  const full = r.prefix >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== r.bytes[i]) return false;
  const rest = r.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[full] & mask) === (r.bytes[full] & mask);
}

/** Bytes of a canonical textual IPv4 (4 bytes) or IPv6 (16 bytes) address; null for anything else. */
export function parseIp(ip: string): Uint8Array | null {
  const family = isIP(ip);
  if (family === 4) return Uint8Array.from(ip.split('.').map(Number));
  if (family === 6) return parseIpv6(ip);
  return null;
}

function parseIpv6(ip: string): Uint8Array | null {
  let text = ip.split('%')[0]; // a zone id (fe80::1%eth0) names an interface, not part of the address
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // dotted IPv4 in the last 32 bits (::ffff:127.0.0.1) → two hex groups (::ffff:7f00:1)
    const [a, b, c, d] = last.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const doubleColon = text.indexOf('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const head = groups(doubleColon === -1 ? text : text.slice(0, doubleColon));
  const back = doubleColon === -1 ? [] : groups(text.slice(doubleColon + 2));
  const missing = 8 - head.length - back.length;
  if (missing < 0 || (doubleColon === -1 && missing !== 0)) return null;
  const words = [...head, ...new Array<number>(missing).fill(0), ...back];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}
