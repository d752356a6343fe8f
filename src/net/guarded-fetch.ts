// The ONE outbound HTTP client: callbacks, image_urls, input_image_url, mask_image_url. Every request:
//  - is http(s) only, to a host that resolves only to public addresses (see ip-ranges.ts) unless the operator
//    allows private targets; cloud metadata endpoints are refused even then;
//  - connects to the exact address that was checked: the validated IP is handed to http.request through a pinned
//    `lookup`, so a DNS answer that changes between check and connect (DNS rebinding) is never used;
//  - follows redirects itself (≤ maxRedirects), re-checking every hop, and drops credentials when the origin changes;
//  - stops reading at maxBytes and aborts; one deadline covers DNS, connect, headers and body of all hops.
// See docs/security.md.
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { type AddressClass, classifyAddress } from './ip-ranges.ts';

export interface OutboundPolicy {
  allowPrivate: boolean;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
  /** DNS override, for tests */
  lookup?: (host: string) => Promise<string[]>;
}
export interface OutboundResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  url: string;
}
export interface OutboundInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** a response-size cap for this request instead of the policy's (e.g. LoRA files, ATELIER_LORA_MAX_BYTES) */
  maxBytes?: number;
}

/** A target the policy refuses: bad scheme, private/loopback/metadata address, … (→ 422 when checked up front). */
export class OutboundBlockedError extends Error {
  override name = 'OutboundBlockedError';
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}
/** The request could not complete: DNS or network error, timeout, response too large, too many redirects. */
export class OutboundFetchError extends Error {
  override name = 'OutboundFetchError';
}

/** Names refused whatever they resolve to. Metadata names stay refused even with allowPrivate. */
const METADATA_HOSTNAMES = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers that carry the caller's identity; never sent to an origin other than the one they were given for. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);
const KIND_DESCRIPTIONS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private network address',
  'link-local': 'a link-local address',
  cgnat: 'a carrier-grade NAT (shared) address',
  'this-network': 'an unspecified / "this network" address',
  multicast: 'a multicast address',
  reserved: 'a reserved or non-routable address',
  metadata: 'a cloud metadata endpoint',
};

interface Target {
  url: URL;
  /** hostname as given (for Host, TLS SNI and certificate checks), brackets removed from IPv6 literals */
  host: string;
  /** every address the name resolved to, all validated; the socket may connect to these and nothing else */
  addresses: { address: string; family: 4 | 6 }[];
}

/** Test seam: the address classifier (lets a test treat its loopback server as "public"). */
export interface GuardDeps {
  classify: (ip: string) => AddressClass | null;
}
const DEFAULT_DEPS: GuardDeps = { classify: classifyAddress };

/**
 * Validates a URL up front (→ 422 at request time). Throws OutboundBlockedError for anything the policy refuses.
 * A name that does not resolve right now is not an error here: the fetch itself checks again and fails then.
 */
export async function checkOutboundUrl(url: string, policy: OutboundPolicy): Promise<void> {
  try {
    await resolveTarget(parseOutboundUrl(url), policy, Date.now() + policy.timeoutMs, DEFAULT_DEPS);
  } catch (e) {
    if (e instanceof OutboundFetchError) return;
    throw e;
  }
}

export function guardedFetch(
  url: string,
  init: OutboundInit,
  policy: OutboundPolicy,
): Promise<OutboundResponse> {
  return guardedFetchWith(url, init, policy, DEFAULT_DEPS);
}

export async function guardedFetchWith(
  url: string,
  init: OutboundInit,
  basePolicy: OutboundPolicy,
  deps: GuardDeps,
): Promise<OutboundResponse> {
  const policy = init.maxBytes ? { ...basePolicy, maxBytes: init.maxBytes } : basePolicy;
  const deadline = Date.now() + policy.timeoutMs;
  let current = parseOutboundUrl(url);
  let method = init.method ?? 'GET';
  let body = init.body;
  let headers = lowerCaseKeys(init.headers ?? {});
  for (let hop = 0; ; hop++) {
    const target = await resolveTarget(current, policy, deadline, deps);
    const res = await requestOnce(target, method, headers, body, policy, deadline);
    const location = res.headers.location;
    if (!REDIRECT_STATUSES.has(res.status) || location === undefined) {
      return { status: res.status, headers: res.headers, body: res.body, url: current.href };
    }
    if (hop >= policy.maxRedirects) {
      throw new OutboundFetchError(`${redact(url)}: too many redirects (more than ${policy.maxRedirects})`);
    }
    let absolute: string;
    try {
      absolute = new URL(location, current).href;
    } catch {
      throw new OutboundFetchError(`${redact(current)}: redirect to an invalid URL`);
    }
    const next = parseOutboundUrl(absolute); // the scheme rule applies to every hop, not only the first
    if (next.origin !== current.origin) headers = withoutCredentials(headers);
    // As in the Fetch standard: 303 always, and 301/302 after a POST, continue as a GET without a body.
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
      const { 'content-type': _type, 'content-length': _length, ...rest } = headers;
      headers = rest;
    }
    current = next;
  }
}

function parseOutboundUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OutboundBlockedError('invalid-url', 'refused outbound URL: not a valid absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new OutboundBlockedError(
      'scheme',
      `refused outbound URL: the scheme ${JSON.stringify(parsed.protocol.slice(0, 20))} is not allowed, only http and https`,
    );
  }
  if (parsed.hostname === '') throw new OutboundBlockedError('invalid-url', 'refused outbound URL: no host');
  return parsed;
}

async function resolveTarget(
  url: URL,
  policy: OutboundPolicy,
  deadline: number,
  deps: GuardDeps,
): Promise<Target> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const literal = isIP(host);
  if (literal) {
    refuseIfBlocked(url, host, host, policy, deps);
    return { url, host, addresses: [{ address: host, family: literal as 4 | 6 }] };
  }
  const name = host.replace(/\.$/, '').toLowerCase();
  if (METADATA_HOSTNAMES.has(name)) {
    throw new OutboundBlockedError(
      'metadata',
      `refused outbound URL ${redact(url)}: ${name} is a cloud metadata endpoint`,
    );
  }
  if (looksNumeric(name)) {
    // WHATWG URL parsing already turns every numeric IPv4 spelling into dotted form; anything numeric left over
    // would be read differently by getaddrinfo (inet_aton), so it is refused rather than guessed.
    throw new OutboundBlockedError(
      'invalid-url',
      `refused outbound URL ${redact(url)}: ambiguous numeric host`,
    );
  }
  if (!policy.allowPrivate && (name === 'localhost' || name.endsWith('.localhost'))) {
    throw new OutboundBlockedError(
      'loopback',
      `refused outbound URL ${redact(url)}: ${name} is the local host`,
    );
  }
  const addresses = await resolveHost(host, url, policy, deadline);
  for (const address of addresses) refuseIfBlocked(url, host, address, policy, deps);
  return { url, host, addresses: addresses.map((address) => ({ address, family: isIP(address) as 4 | 6 })) };
}

function looksNumeric(name: string): boolean {
  return name.split('.').every((label) => /^(?:0x[0-9a-f]*|[0-9]+)$/i.test(label));
}

async function resolveHost(
  host: string,
  url: URL,
  policy: OutboundPolicy,
  deadline: number,
): Promise<string[]> {
  const lookup = policy.lookup ?? systemLookup;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new OutboundFetchError(`${redact(url)}: timed out after ${policy.timeoutMs} ms (DNS)`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  let addresses: string[];
  try {
    addresses = await Promise.race([lookup(host), timeout]);
  } catch (e) {
    if (e instanceof OutboundFetchError) throw e;
    throw new OutboundFetchError(`${redact(url)}: could not resolve ${host} (${errorCode(e)})`);
  } finally {
    clearTimeout(timer);
  }
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new OutboundFetchError(`${redact(url)}: ${host} has no addresses`);
  }
  for (const a of addresses) {
    if (typeof a !== 'string' || !isIP(a)) {
      throw new OutboundFetchError(`${redact(url)}: ${host} resolved to something that is not an IP address`);
    }
  }
  return addresses;
}

async function systemLookup(host: string): Promise<string[]> {
  // getaddrinfo, like the connection itself would use (honours /etc/hosts); all families, resolver order.
  const results = await dnsLookup(host, { all: true, verbatim: true });
  return results.map((r) => r.address);
}

function refuseIfBlocked(
  url: URL,
  host: string,
  address: string,
  policy: OutboundPolicy,
  deps: GuardDeps,
): void {
  const c = deps.classify(address);
  if (!c)
    throw new OutboundBlockedError('invalid-url', `refused outbound URL ${redact(url)}: unparseable address`);
  if (c.kind === 'public' || (policy.allowPrivate && c.kind !== 'metadata')) return;
  const what = KIND_DESCRIPTIONS[c.kind] ?? c.kind;
  const shown = host === address ? address : `${host} resolves to ${address}, which`;
  const via = c.via ? ` (${c.via} of ${c.embedded})` : '';
  throw new OutboundBlockedError(c.kind, `refused outbound URL ${redact(url)}: ${shown} is ${what}${via}`);
}

/**
 * A `lookup` for http.request that answers only the validated addresses, whatever DNS says now. With `all`
 * (Node's Happy Eyeballs, autoSelectFamily) it hands over every validated address, so a host whose first answer
 * is unreachable IPv6 still connects over IPv4.
 */
function pinnedLookup(addresses: { address: string; family: 4 | 6 }[]): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, addresses);
    else callback(null, addresses[0].address, addresses[0].family);
  }) as LookupFunction;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function requestOnce(
  target: Target,
  method: string,
  headers: Record<string, string>,
  body: string | Buffer | undefined,
  policy: OutboundPolicy,
  deadline: number,
): Promise<RawResponse> {
  const { url } = target;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, value?: RawResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(value!);
    };
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const outHeaders: Record<string, string> = { 'user-agent': 'Atelier', ...headers };
    if (payload) outHeaders['content-length'] = String(payload.length);
    if (url.username || url.password) {
      // Credentials written in the URL belong to this URL's origin only (a redirect elsewhere carries none).
      outHeaders.authorization ??= `Basic ${Buffer.from(`${safeDecode(url.username)}:${safeDecode(url.password)}`).toString('base64')}`;
    }
    const client = url.protocol === 'https:' ? https : http;
    let req: http.ClientRequest;
    try {
      req = client.request({
        protocol: url.protocol,
        hostname: target.host,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`, // query string exactly as given (CLIENTS.md item 30)
        method,
        headers: outHeaders,
        agent: false,
        lookup: pinnedLookup(target.addresses),
      });
    } catch (e) {
      // e.g. a header value with a newline: refused by Node before anything is sent
      settled = true;
      reject(new OutboundFetchError(`${method} ${redact(url)}: ${errorCode(e)}`));
      return;
    }
    const timer = setTimeout(
      () => finish(new OutboundFetchError(`${redact(url)}: timed out after ${policy.timeoutMs} ms`)),
      Math.max(0, deadline - Date.now()),
    );
    req.on('error', (e) => finish(new OutboundFetchError(`${method} ${redact(url)}: ${errorCode(e)}`)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const resHeaders = flattenHeaders(res.headers);
      if (REDIRECT_STATUSES.has(status) && resHeaders.location !== undefined) {
        // The redirect's own body is not needed; closing (not draining) means an endless one costs nothing.
        finish(null, { status, headers: resHeaders, body: Buffer.alloc(0) });
        req.destroy();
        return;
      }
      const declared = Number(resHeaders['content-length']);
      if (Number.isFinite(declared) && declared > policy.maxBytes) {
        finish(tooLarge(url, policy, `declares ${declared} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > policy.maxBytes)
          finish(tooLarge(url, policy, `sent more than ${policy.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => finish(null, { status, headers: resHeaders, body: Buffer.concat(chunks) }));
      res.on('error', (e) => finish(new OutboundFetchError(`${method} ${redact(url)}: ${errorCode(e)}`)));
      res.on('aborted', () =>
        finish(new OutboundFetchError(`${method} ${redact(url)}: connection closed early`)),
      );
    });
    req.end(payload);
  });
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a stray '%' is kept literally, as WHATWG URL parsing kept it
  }
}

function tooLarge(url: URL, policy: OutboundPolicy, detail: string): OutboundFetchError {
  return new OutboundFetchError(
    `${redact(url)}: response too large (${detail}; the limit is ${policy.maxBytes})`,
  );
}

function flattenHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function lowerCaseKeys(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

function withoutCredentials(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !CREDENTIAL_HEADERS.has(k)));
}

/** URL for messages and logs: no userinfo, no query string (callback URLs carry secrets, CLIENTS.md item 30). */
/** The URL without its query (callback secrets such as webhook_secret= live there) or credentials, for logs. */
export function redact(url: URL | string): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

function errorCode(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message.slice(0, 200) : String(e).slice(0, 200);
}
