import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import {
  checkOutboundUrl,
  guardedFetch,
  guardedFetchWith,
  OutboundBlockedError,
  OutboundFetchError,
  type OutboundPolicy,
} from '../../../src/net/guarded-fetch.ts';
import { classifyAddress } from '../../../src/net/ip-ranges.ts';

const STRICT: OutboundPolicy = {
  allowPrivate: false,
  maxBytes: 1_000_000,
  timeoutMs: 5_000,
  maxRedirects: 3,
};
const LOOPBACK_OK: OutboundPolicy = { ...STRICT, allowPrivate: true };

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback HTTP server that records every request it receives. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port, base: `http://127.0.0.1:${port}`, seen };
}

function blocked(reason: string, pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof OutboundBlockedError, `expected OutboundBlockedError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}
function fetchError(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof OutboundFetchError, `expected OutboundFetchError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  };
}
/** A DNS override from a fixed table; counts calls per name. */
function fakeDns(table: Record<string, string[]>) {
  const calls: string[] = [];
  const lookup = async (host: string) => {
    calls.push(host);
    const a = table[host];
    if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return a;
  };
  return { lookup, calls };
}

test('GET and POST reach a loopback server when private targets are allowed', async () => {
  const s = await serve((_req, res, body) => {
    res.setHeader('x-echo', body.length);
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end(`hello ${body}`);
  });
  const get = await guardedFetch(`${s.base}/ping`, {}, LOOPBACK_OK);
  assert.equal(get.status, 200);
  assert.equal(get.body.toString(), 'hello ');
  assert.equal(get.url, `${s.base}/ping`);
  assert.equal(get.headers['set-cookie'], 'a=1, b=2');

  const post = await guardedFetch(
    `${s.base}/cb`,
    { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"tune":{"id":1}}' },
    LOOPBACK_OK,
  );
  assert.equal(post.body.toString(), 'hello {"tune":{"id":1}}');
  assert.equal(post.headers['x-echo'], '17');
  const seen = s.seen[1];
  assert.equal(seen.method, 'POST');
  assert.equal(seen.headers['content-type'], 'application/json');
  assert.equal(seen.headers['content-length'], '17');
});

test('the callback query string is sent exactly as given (CLIENTS.md item 30)', async () => {
  const s = await serve((_req, res) => res.end());
  const path = '/hook?user_id=12&&model_id=&webhook_secret=a%2Fb%3D&x=%E2%9C%93';
  await guardedFetch(`${s.base}${path}#frag`, { method: 'POST', body: '{}' }, LOOPBACK_OK);
  assert.equal(s.seen[0].url, path);
});

test('by default a loopback server is refused before any connection is made', async () => {
  const s = await serve((_req, res) => res.end('should not be reached'));
  await assert.rejects(
    guardedFetch(`${s.base}/`, {}, STRICT),
    blocked('loopback', /127\.0\.0\.1 is a loopback address/),
  );
  await assert.rejects(checkOutboundUrl(`${s.base}/`, STRICT), blocked('loopback'));
  assert.equal(s.seen.length, 0);
});

test('refused targets, including every numeric and IPv6 spelling of private addresses', async () => {
  const cases: [string, string][] = [
    ['http://127.0.0.1/', 'loopback'],
    ['http://2130706433/', 'loopback'], // decimal
    ['http://0177.0.0.1/', 'loopback'], // octal
    ['http://0x7f.1/', 'loopback'], // hex, short form
    ['http://0x7f000001/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://127.0.0.1./', 'loopback'],
    ['http://%31%32%37.0.0.1/', 'loopback'], // percent-encoded
    ['http://127。0。0。1/', 'loopback'], // ideographic full stops
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:7f00:1]/', 'loopback'],
    ['http://[::127.0.0.1]/', 'loopback'], // IPv4-compatible
    ['http://[64:ff9b::10.0.0.1]/', 'private'], // NAT64 of a private address
    ['http://[2002:7f00:1::1]/', 'loopback'], // 6to4
    ['http://10.0.0.1/', 'private'],
    ['http://172.16.5.4/', 'private'],
    ['http://192.168.0.1:8080/', 'private'],
    ['http://[fc00::1]/', 'private'],
    ['http://[fd12::1]/', 'private'],
    ['http://169.254.1.1/', 'link-local'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://100.64.0.1/', 'cgnat'],
    ['http://0.0.0.0/', 'this-network'],
    ['http://0/', 'this-network'],
    ['http://[::]/', 'this-network'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://[ff02::1]/', 'multicast'],
    ['http://240.0.0.1/', 'reserved'],
    ['http://255.255.255.255/', 'reserved'],
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://[::ffff:169.254.169.254]/', 'metadata'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'metadata'],
    ['http://METADATA.google.internal./', 'metadata'],
    ['http://localhost/', 'loopback'],
    ['http://api.localhost:3000/', 'loopback'],
    ['ftp://example.com/a.jpg', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['gopher://127.0.0.1:6379/_INFO', 'scheme'],
    ['data:image/png;base64,AAAA', 'scheme'],
    ['javascript:alert(1)', 'scheme'],
    ['not a url', 'invalid-url'],
    ['/relative/path', 'invalid-url'],
  ];
  const dns = fakeDns({});
  for (const [url, reason] of cases) {
    await assert.rejects(checkOutboundUrl(url, { ...STRICT, lookup: dns.lookup }), blocked(reason), url);
    await assert.rejects(guardedFetch(url, {}, { ...STRICT, lookup: dns.lookup }), blocked(reason), url);
  }
});

test('metadata endpoints stay refused even when private targets are allowed; others open up', async () => {
  for (const url of [
    'http://169.254.169.254/',
    'http://[fd00:ec2::254]/',
    'http://metadata.google.internal/',
  ]) {
    await assert.rejects(checkOutboundUrl(url, LOOPBACK_OK), blocked('metadata'), url);
  }
  for (const url of [
    'http://10.0.0.1/',
    'http://[::ffff:127.0.0.1]/',
    'http://localhost/',
    'http://192.168.1.1/',
  ]) {
    await checkOutboundUrl(url, { ...LOOPBACK_OK, lookup: async () => ['127.0.0.1'] });
  }
});

test('a DNS name that resolves to a private address is refused (fake lookup)', async () => {
  const dns = fakeDns({
    'internal.example': ['10.0.0.1'],
    'mixed.example': ['93.184.216.34', '192.168.1.10'],
    'v6.example': ['2606:4700::1', 'fe80::1'],
    'mapped.example': ['::ffff:10.1.2.3'],
    'meta.example': ['169.254.169.254'],
    'public.example': ['93.184.216.34', '2606:4700::1111'],
    'garbage.example': ['not-an-ip'],
  });
  const policy = { ...STRICT, lookup: dns.lookup };
  await assert.rejects(
    checkOutboundUrl('https://internal.example/cb', policy),
    blocked('private', /internal\.example resolves to 10\.0\.0\.1, which is a private network address/),
  );
  await assert.rejects(
    checkOutboundUrl('https://mixed.example/', policy),
    blocked('private', /192\.168\.1\.10/),
  );
  await assert.rejects(checkOutboundUrl('https://v6.example/', policy), blocked('link-local'));
  await assert.rejects(
    checkOutboundUrl('https://mapped.example/', policy),
    blocked('private', /IPv4-mapped IPv6 of 10\.1\.2\.3/),
  );
  await assert.rejects(
    checkOutboundUrl('https://meta.example/', { ...policy, allowPrivate: true }),
    blocked('metadata'),
  );
  await checkOutboundUrl('https://public.example/x.jpg', policy);
  await assert.rejects(guardedFetch('https://garbage.example/', {}, policy), fetchError(/not an IP address/));
});

test('a name that does not resolve: the up-front check lets it pass, the fetch fails', async () => {
  const dns = fakeDns({});
  await checkOutboundUrl('https://nowhere.example/cb', { ...STRICT, lookup: dns.lookup });
  await assert.rejects(
    guardedFetch('https://nowhere.example/cb', {}, { ...STRICT, lookup: dns.lookup }),
    fetchError(/could not resolve nowhere\.example \(ENOTFOUND\)/),
  );
  assert.deepEqual(dns.calls, ['nowhere.example', 'nowhere.example']);
});

test('connects to the address that was checked: DNS is asked once per hop, a later answer is never used', async () => {
  const s = await serve((_req, res) => res.end('pinned'));
  let calls = 0;
  // First answer: our server. Any later answer: an address nothing listens on (a rebinding attempt).
  const lookup = async () => (++calls === 1 ? ['127.0.0.1'] : ['10.255.255.1']);
  const res = await guardedFetch(`http://service.test:${s.port}/x`, {}, { ...LOOPBACK_OK, lookup });
  assert.equal(res.body.toString(), 'pinned');
  assert.equal(calls, 1);
  assert.equal(s.seen[0].headers.host, `service.test:${s.port}`);
});

test('a redirect from an allowed-looking host to a private one is refused at the hop', async () => {
  const s = await serve((req, res) => {
    res.statusCode = 302;
    res.setHeader(
      'location',
      req.url === '/to-name' ? 'http://internal.example/admin' : 'http://10.0.0.7/admin',
    );
    res.end();
  });
  const dns = fakeDns({ 'cdn.example': ['127.0.0.1'], 'internal.example': ['10.0.0.1'] });
  // Treat the test server's loopback address as if it were a public one; everything else is classified for real.
  const deps = {
    classify: (ip: string) => (ip === '127.0.0.1' ? { kind: 'public' as const } : classifyAddress(ip)),
  };
  const policy = { ...STRICT, lookup: dns.lookup };
  await assert.rejects(
    guardedFetchWith(`http://cdn.example:${s.port}/to-name`, {}, policy, deps),
    blocked('private', /internal\.example resolves to 10\.0\.0\.1/),
  );
  await assert.rejects(
    guardedFetchWith(`http://cdn.example:${s.port}/to-ip`, {}, policy, deps),
    blocked('private', /10\.0\.0\.7/),
  );
  assert.equal(s.seen.length, 2);
  assert.deepEqual(dns.calls, ['cdn.example', 'internal.example', 'cdn.example']);
});

test('with private targets allowed, a redirect to a metadata address or another scheme is still refused', async () => {
  const s = await serve((req, res) => {
    res.statusCode = 301;
    res.setHeader(
      'location',
      req.url === '/meta' ? 'http://169.254.169.254/latest/meta-data/' : 'file:///etc/passwd',
    );
    res.end();
  });
  await assert.rejects(guardedFetch(`${s.base}/meta`, {}, LOOPBACK_OK), blocked('metadata'));
  await assert.rejects(guardedFetch(`${s.base}/file`, {}, LOOPBACK_OK), blocked('scheme'));
});

test('redirects: followed up to maxRedirects, relative locations, final URL reported', async () => {
  const s = await serve((req, res) => {
    const n = Number(req.url!.slice(1));
    if (n > 0) {
      res.statusCode = 307;
      res.setHeader('location', `/${n - 1}`);
      res.end();
    } else res.end('landed');
  });
  const ok = await guardedFetch(`${s.base}/3`, {}, LOOPBACK_OK);
  assert.equal(ok.body.toString(), 'landed');
  assert.equal(ok.url, `${s.base}/0`);
  await assert.rejects(
    guardedFetch(`${s.base}/4`, {}, LOOPBACK_OK),
    fetchError(/too many redirects \(more than 3\)/),
  );
  await assert.rejects(
    guardedFetch(`${s.base}/1`, {}, { ...LOOPBACK_OK, maxRedirects: 0 }),
    fetchError(/too many redirects/),
  );
});

test('redirect methods: 303 and 302 after POST become GET without body, 307/308 keep both', async () => {
  const s = await serve((req, res) => {
    const m = /^\/(\d+)$/.exec(req.url!);
    if (m) {
      res.statusCode = Number(m[1]);
      res.setHeader('location', '/done');
      res.end();
    } else res.end();
  });
  for (const [status, method, body] of [
    [303, 'GET', ''],
    [302, 'GET', ''],
    [301, 'GET', ''],
    [307, 'POST', 'payload'],
    [308, 'POST', 'payload'],
  ] as const) {
    s.seen.length = 0;
    await guardedFetch(
      `${s.base}/${status}`,
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'payload' },
      LOOPBACK_OK,
    );
    const last = s.seen[1];
    assert.equal(last.url, '/done');
    assert.equal(last.method, method, `${status}`);
    assert.equal(last.body, body, `${status}`);
    assert.equal(last.headers['content-type'], method === 'GET' ? undefined : 'text/plain');
  }
});

test('credentials are not forwarded to another host on redirect, but kept on the same origin', async () => {
  const s = await serve((req, res) => {
    if (req.url === '/same') {
      res.statusCode = 302;
      res.setHeader('location', '/landing');
    } else if (req.url === '/cross') {
      res.statusCode = 302;
      res.setHeader('location', `http://other.test:${(req.socket.localPort ?? 0).toString()}/landing`);
    }
    res.end();
  });
  const dns = fakeDns({ 'origin.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'] });
  const policy = { ...LOOPBACK_OK, lookup: dns.lookup };
  const headers = { Authorization: 'Bearer sekret', Cookie: 'session=1', 'X-Trace': 't' };

  await guardedFetch(`http://origin.test:${s.port}/same`, { headers }, policy);
  assert.equal(s.seen[1].headers.authorization, 'Bearer sekret');
  assert.equal(s.seen[1].headers.cookie, 'session=1');

  await guardedFetch(`http://origin.test:${s.port}/cross`, { headers }, policy);
  assert.equal(s.seen[2].headers.authorization, 'Bearer sekret');
  const landed = s.seen[3];
  assert.equal(landed.headers.host, `other.test:${s.port}`);
  assert.equal(landed.headers.authorization, undefined);
  assert.equal(landed.headers.cookie, undefined);
  assert.equal(landed.headers['x-trace'], 't');

  // Userinfo in the URL becomes Basic auth for that origin only.
  await guardedFetch(`http://us%40r:p%3Ass@origin.test:${s.port}/cross`, {}, policy);
  assert.equal(s.seen[4].headers.authorization, `Basic ${Buffer.from('us@r:p:ss').toString('base64')}`);
  assert.equal(s.seen[5].headers.authorization, undefined);
});

test('body size cap: declared and streamed bodies beyond maxBytes abort; exactly maxBytes is fine', async () => {
  let endlessAborted: () => void = () => {};
  const aborted = new Promise<void>((r) => {
    endlessAborted = r;
  });
  const s = await serve((req, res) => {
    if (req.url === '/declared') {
      res.setHeader('content-length', '2000');
      res.end(Buffer.alloc(2000));
    } else if (req.url === '/exact') {
      res.end(Buffer.alloc(1000, 1));
    } else {
      // chunked, never ends on its own: the client must cut it off
      res.on('close', () => endlessAborted());
      const pump = () => {
        while (res.write(Buffer.alloc(4096))) {}
        res.once('drain', pump);
      };
      pump();
    }
  });
  const policy = { ...LOOPBACK_OK, maxBytes: 1000 };
  await assert.rejects(
    guardedFetch(`${s.base}/declared`, {}, policy),
    fetchError(/too large \(declares 2000 bytes; the limit is 1000\)/),
  );
  await assert.rejects(
    guardedFetch(`${s.base}/endless`, {}, policy),
    fetchError(/too large \(sent more than 1000 bytes/),
  );
  await aborted; // the server saw the connection go away
  assert.equal((await guardedFetch(`${s.base}/exact`, {}, policy)).body.length, 1000);
});

test('one deadline covers headers and body: a silent server and a trickling body both time out', async () => {
  const s = await serve((req, res) => {
    if (req.url === '/trickle') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('x'); // headers and one byte, then nothing
    }
    // '/silent': never answers
  });
  const policy = { ...LOOPBACK_OK, timeoutMs: 150 };
  await assert.rejects(guardedFetch(`${s.base}/silent`, {}, policy), fetchError(/timed out after 150 ms/));
  await assert.rejects(guardedFetch(`${s.base}/trickle`, {}, policy), fetchError(/timed out after 150 ms/));
});

test('a DNS lookup that never answers is bounded by the same deadline', async () => {
  const lookup = () => new Promise<string[]>(() => {});
  await assert.rejects(
    guardedFetch('https://slow-dns.example/', {}, { ...STRICT, timeoutMs: 100, lookup }),
    fetchError(/timed out after 100 ms \(DNS\)/),
  );
});

test('connection refused is an OutboundFetchError, and messages never show the query string', async () => {
  const s = await serve(() => {});
  const port = s.port;
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  assert.notEqual(port, deadPort);
  await assert.rejects(
    guardedFetch(
      `http://127.0.0.1:${deadPort}/cb?webhook_secret=hunter2`,
      { method: 'POST', body: '{}' },
      LOOPBACK_OK,
    ),
    (e: unknown) => {
      assert.ok(e instanceof OutboundFetchError);
      assert.match(e.message, /ECONNREFUSED/);
      assert.match(e.message, /\/cb\?…/);
      assert.doesNotMatch(e.message, /hunter2/);
      return true;
    },
  );
  await assert.rejects(checkOutboundUrl('http://10.0.0.1/x?webhook_secret=hunter2', STRICT), (e: unknown) => {
    assert.ok(e instanceof OutboundBlockedError);
    assert.doesNotMatch(e.message, /hunter2/);
    return true;
  });
});

test('a name with several validated addresses connects to one that answers (Happy Eyeballs over the pinned list)', async () => {
  const s = await serve((_req, res) => res.end('v4'));
  // ::1 first: nothing listens there on this port (the server is IPv4-only), so the connection falls back.
  const lookup = async () => ['::1', '127.0.0.1'];
  const res = await guardedFetch(`http://dual.test:${s.port}/`, {}, { ...LOOPBACK_OK, lookup });
  assert.equal(res.body.toString(), 'v4');
});

test('a redirect with an endless body is not drained: its connection is closed', {
  timeout: 10_000,
}, async () => {
  let redirectClosed: () => void = () => {};
  const closed = new Promise<void>((r) => {
    redirectClosed = r;
  });
  const s = await serve((req, res) => {
    if (req.url === '/done') {
      res.end('done');
      return;
    }
    res.on('close', () => redirectClosed());
    res.writeHead(302, { location: '/done' });
    const pump = () => {
      while (res.write(Buffer.alloc(4096))) {}
      res.once('drain', pump);
    };
    pump();
  });
  const res = await guardedFetch(`${s.base}/loop`, {}, { ...LOOPBACK_OK, maxBytes: 100 });
  assert.equal(res.body.toString(), 'done');
  await closed; // with a draining client this never happens and the test times out
});

test('bad request input fails as OutboundFetchError, never a raw TypeError', async () => {
  const s = await serve((_req, res) => res.end());
  await assert.rejects(
    guardedFetch(`${s.base}/`, { headers: { 'x-bad': 'a\r\nInjected: 1' } }, LOOPBACK_OK),
    fetchError(/ERR_INVALID_CHAR/),
  );
  // A stray % in userinfo is sent literally rather than crashing the decoder.
  await guardedFetch(`http://a%zz:b@127.0.0.1:${s.port}/`, {}, LOOPBACK_OK);
  assert.equal(s.seen.at(-1)?.headers.authorization, `Basic ${Buffer.from('a%zz:b').toString('base64')}`);
});

// Self-signed certificate for "secure.test" (test-only key, generated with openssl for this test, valid until 2126).
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDETqcFVYVL17XY1b
vf5IsBrT1AienfO5orSXEJ+rfcahRANCAASdFHhi5wdpt8wufGsEajhIYC56gSpv
0Xb8QPlvL584w61TU9JJfw0NGc8ewLhvjakBuy2bRzMqap8KRXCvSkro
-----END PRIVATE KEY-----`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUIumXECOQmJfUZd3fTkQxHI3c/+gwCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLc2VjdXJlLnRlc3QwIBcNMjYxMTI1MTczMjI1WhgPMjEyNjEx
MDExNzMyMjVaMBYxFDASBgNVBAMMC3NlY3VyZS50ZXN0MFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEnRR4YucHabfMLnxrBGo4SGAueoEqb9F2/ED5by+fOMOtU1PS
SX8NDRnPHsC4b42pAbstm0czKmqfCkVwr0pK6KNrMGkwHQYDVR0OBBYEFAmy6PdQ
KPr+IyTLXc9VA/RhenVyMB8GA1UdIwQYMBaAFAmy6PdQKPr+IyTLXc9VA/RhenVy
MA8GA1UdEwEB/wQFMAMBAf8wFgYDVR0RBA8wDYILc2VjdXJlLnRlc3QwCgYIKoZI
zj0EAwIDSQAwRgIhAMldDMKl4YdTyB/KfrzJQWIB80MGsMEokqCZLdM9InxfAiEA
rrRCxM/Um/kCvNd83ZayWPI6eyzkAvFKWEKT4QIk3Go=
-----END CERTIFICATE-----`;

test('https: SNI carries the hostname while the socket goes to the pinned address, and certificates are verified', async () => {
  const sni: string[] = [];
  const server = createHttpsServer({
    key: TEST_KEY,
    cert: TEST_CERT,
    SNICallback: (name, cb) => {
      sni.push(name);
      cb(null);
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const lookup = async () => ['127.0.0.1'];
  // The certificate is not signed by a trusted CA: the request must fail on verification, not go through.
  await assert.rejects(
    guardedFetch(`https://secure.test:${port}/`, {}, { ...LOOPBACK_OK, lookup }),
    fetchError(/SELF_SIGNED|self.signed/i),
  );
  assert.deepEqual(sni, ['secure.test']);
});
