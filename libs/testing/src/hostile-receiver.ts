import { AddressInfo, Server, Socket, createServer } from 'node:net';

/** How a hostile receiver treats each connection. */
export type HostileBehaviour =
  /** Accepts the connection, reads whatever comes and never writes a byte: a plain http
   * request gets no answer, and an https client's TLS handshake never completes. */
  | { kind: 'silent' }
  /** A complete answer whose body is exactly these bytes (binary, NUL, invalid UTF-8…). */
  | { kind: 'answer'; status: number; body: Uint8Array; headers?: Record<string, string> }
  /** An answer of `bodyBytes` bytes (declared in Content-Length), sent as fast as the client reads. */
  | { kind: 'flood'; status: number; bodyBytes: number }
  /** Status line and headers at once, then one body byte every `intervalMs`, forever. */
  | { kind: 'trickle-body'; status: number; intervalMs: number }
  /** Even the status line and headers arrive one byte every `intervalMs`, forever. */
  | { kind: 'trickle-headers'; status: number; intervalMs: number }
  /** Status line, headers promising a longer body, `partialBody`, then the socket is destroyed. */
  | { kind: 'cut'; status: number; partialBody: string };

export interface HostileConnection {
  acceptedAt: number;
  /** When the request's head and body had arrived; null for a TLS hello or nothing at all. */
  requestAt: number | null;
  /** The request line, e.g. "POST /hook HTTP/1.1"; null when none was read. */
  requestLine: string | null;
  /** Bytes handed to the socket; with backpressure, at most one chunk more than the client took. */
  bytesSent: number;
  /** When the connection ended (either side closing it); null while open. */
  closedAt: number | null;
}

const FLOOD_CHUNK = Buffer.alloc(64 * 1024, 'x');

/**
 * A raw TCP server on 127.0.0.1 that misbehaves as a webhook receiver on purpose, for tests
 * of what a client does when the other side is broken or malicious. It speaks just enough
 * HTTP/1.1 to read one request per connection, then answers with the chosen behaviour and
 * records each connection's life: when it came, what was sent, when it closed.
 */
export class HostileReceiver {
  readonly connections: HostileConnection[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: Server | null = null;
  private port = 0;

  constructor(readonly behaviour: HostileBehaviour) {}

  async start(): Promise<this> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** An http:// URL of this receiver. */
  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** An https:// URL of this receiver (which never speaks TLS: the handshake never ends). */
  httpsUrl(path = '/'): string {
    return `https://127.0.0.1:${this.port}${path}`;
  }

  /** Connections neither side has closed yet. */
  get openConnections(): number {
    return this.connections.filter((connection) => connection.closedAt === null).length;
  }

  get totalBytesSent(): number {
    return this.connections.reduce((sum, connection) => sum + connection.bytesSent, 0);
  }

  async stop(): Promise<void> {
    this.timers.forEach((timer) => clearInterval(timer));
    this.timers.clear();
    this.sockets.forEach((socket) => socket.destroy());
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = null;
  }

  private accept(socket: Socket): void {
    const connection: HostileConnection = {
      acceptedAt: Date.now(),
      requestAt: null,
      requestLine: null,
      bytesSent: 0,
      closedAt: null,
    };
    this.connections.push(connection);
    this.sockets.add(socket);
    // The client hanging up mid-write (EPIPE, ECONNRESET) is the expected end, not a failure.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      connection.closedAt = Date.now();
      this.sockets.delete(socket);
    });
    if (this.behaviour.kind === 'silent') {
      socket.resume();
      return;
    }
    readRequest(socket, (requestLine) => {
      connection.requestAt = Date.now();
      connection.requestLine = requestLine;
      this.answer(socket, connection);
    });
  }

  private answer(socket: Socket, connection: HostileConnection): void {
    const send = (data: Buffer | string): boolean => {
      if (socket.destroyed) return false;
      connection.bytesSent += Buffer.byteLength(data);
      return socket.write(data);
    };
    const behaviour = this.behaviour;
    switch (behaviour.kind) {
      case 'silent':
        return;
      case 'answer': {
        const headers = {
          'content-type': 'application/octet-stream',
          ...behaviour.headers,
          'content-length': String(behaviour.body.length),
        };
        send(head(behaviour.status, headers));
        send(Buffer.from(behaviour.body));
        socket.end();
        return;
      }
      case 'flood': {
        send(head(behaviour.status, { 'content-length': String(behaviour.bodyBytes) }));
        let remaining = behaviour.bodyBytes;
        const pump = () => {
          while (remaining > 0 && !socket.destroyed) {
            const chunk = FLOOD_CHUNK.subarray(0, Math.min(FLOOD_CHUNK.length, remaining));
            remaining -= chunk.length;
            if (!send(chunk)) {
              socket.once('drain', pump);
              return;
            }
          }
          socket.end();
        };
        pump();
        return;
      }
      case 'trickle-body':
        send(head(behaviour.status, { 'content-length': String(1_000_000_000) }));
        this.drip(socket, behaviour.intervalMs, () => 'x', send);
        return;
      case 'trickle-headers': {
        const bytes = head(behaviour.status, { 'content-length': '2' }) + 'ok';
        let next = 0;
        this.drip(socket, behaviour.intervalMs, () => bytes[next++ % bytes.length], send);
        return;
      }
      case 'cut':
        send(head(behaviour.status, { 'content-length': String(100 * 1024) }));
        connection.bytesSent += Buffer.byteLength(behaviour.partialBody);
        // Destroyed once the partial answer has left, so the client does get it first.
        socket.write(behaviour.partialBody, () => socket.destroy());
        return;
    }
  }

  private drip(
    socket: Socket,
    intervalMs: number,
    nextByte: () => string,
    send: (data: string) => boolean,
  ): void {
    const timer = setInterval(() => {
      if (socket.destroyed) {
        clearInterval(timer);
        this.timers.delete(timer);
        return;
      }
      send(nextByte());
    }, intervalMs);
    this.timers.add(timer);
  }
}

function head(status: number, headers: Record<string, string>): string {
  const lines = Object.entries({ ...headers, connection: 'close' }).map(
    ([name, value]) => `${name}: ${value}\r\n`,
  );
  return `HTTP/1.1 ${status} Hostile\r\n${lines.join('')}\r\n`;
}

/** Reads one request (head and Content-Length body), then calls back with its request line. */
function readRequest(socket: Socket, onRequest: (requestLine: string) => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const headEnd = buffered.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const requestHead = buffered.subarray(0, headEnd).toString('latin1');
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(requestHead)?.[1] ?? 0);
    if (buffered.length < headEnd + 4 + length) return;
    socket.off('data', onData);
    // Whatever follows is ignored: one request per connection, and every answer says close.
    socket.resume();
    onRequest(requestHead.split('\r\n')[0]);
  };
  socket.on('data', onData);
}
