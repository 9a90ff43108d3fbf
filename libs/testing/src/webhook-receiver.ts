import { IncomingHttpHeaders, Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export interface ReceiverReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Never answer (the client's timeout has to end it). */
  hang?: boolean;
}

/** Decides the answer to each request; by default 200 "ok". */
export type ReplyPolicy = (request: ReceivedRequest, countForPath: number) => ReceiverReply;

/**
 * A real HTTP server on 127.0.0.1 that records every webhook request it gets, for tests
 * that must see what actually crossed the wire.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  private readonly policies = new Map<string, ReplyPolicy>();
  private readonly hanging = new Set<() => void>();
  private server: Server | null = null;
  private port = 0;
  private open = 0;
  /** The most requests that were under way at once (arrived, not yet answered). */
  maxConcurrent = 0;

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      this.open += 1;
      this.maxConcurrent = Math.max(this.maxConcurrent, this.open);
      response.once('close', () => (this.open -= 1));
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const received: ReceivedRequest = {
          path: request.url ?? '/',
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          receivedAt: Date.now(),
        };
        this.requests.push(received);
        const count = this.requests.filter((entry) => entry.path === received.path).length;
        const policy = this.policies.get(received.path);
        const reply: ReceiverReply = policy ? policy(received, count) : {};
        if (reply.hang) {
          const release = () => response.destroy();
          this.hanging.add(release);
          response.on('close', () => this.hanging.delete(release));
          return;
        }
        const answer = () => {
          response.writeHead(
            reply.status ?? 200,
            reply.headers ?? { 'content-type': 'text/plain' },
          );
          response.end(reply.body ?? 'ok');
        };
        if (reply.delayMs) setTimeout(answer, reply.delayMs);
        else answer();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** The URL of a path on this receiver, e.g. `url('/account-a')`. */
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  get listeningPort(): number {
    return this.port;
  }

  /** How requests to `path` are answered from now on. */
  reply(path: string, policy: ReplyPolicy): void {
    this.policies.set(path, policy);
  }

  requestsTo(path: string): ReceivedRequest[] {
    return this.requests.filter((request) => request.path === path);
  }

  async stop(): Promise<void> {
    this.hanging.forEach((release) => release());
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    this.server = null;
  }
}
