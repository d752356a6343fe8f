// A Server-Sent Events reader over a fetch body (EventSource cannot send the Authorization header).
// Ref: WHATWG HTML §9.2.6 "Interpreting an event stream": lines end in CRLF, LF or CR; a blank line dispatches
// the buffered event; `data:` lines are joined with "\n"; one leading space after the colon is dropped; lines
// starting with ':' are comments; an event with no data is not dispatched.

export interface ServerEvent {
  event: string;
  data: string;
  id?: string;
}

export class EventStreamDecoder {
  private rest = '';
  private skipLeadingLF = false;
  private type = '';
  private data: string[] = [];
  private lastId: string | undefined;

  /** Feed decoded text; returns the events completed by it. */
  feed(text: string): ServerEvent[] {
    if (this.skipLeadingLF && text.startsWith('\n')) text = text.slice(1);
    this.skipLeadingLF = false;
    const buf = this.rest + text;
    const events: ServerEvent[] = [];
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const c = buf[i];
      if (c !== '\n' && c !== '\r') continue;
      const ev = this.line(buf.slice(start, i));
      if (ev) events.push(ev);
      if (c === '\r') {
        if (i + 1 < buf.length) {
          if (buf[i + 1] === '\n') i++;
        } else this.skipLeadingLF = true; // the LF of a CRLF may come in the next chunk
      }
      start = i + 1;
    }
    this.rest = buf.slice(start);
    return events;
  }

  private line(line: string): ServerEvent | null {
    if (line === '') {
      const ev = this.data.length
        ? { event: this.type || 'message', data: this.data.join('\n'), id: this.lastId }
        : null;
      this.type = '';
      this.data = [];
      return ev;
    }
    if (line[0] === ':') return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\u0000')) this.lastId = value;
    return null;
  }
}

/** Yields the events of a response body until it ends. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerEvent> {
  const decoder = new TextDecoder();
  const parser = new EventStreamDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      yield* parser.feed(decoder.decode(value, { stream: true }));
    }
    yield* parser.feed(`${decoder.decode()}\n`);
  } finally {
    await reader.cancel().catch(() => {});
  }
}
