import { Agent, request } from 'node:http';

/**
 * A lean JSON POSTer over one keep-alive agent, for the hot paths of the benchmark (publishing,
 * the raw consumer): fetch costs noticeably more CPU per request, and the client must not be
 * what limits the figures.
 */
export class KeepAlivePoster {
  private readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    baseUrl: string,
    maxSockets: number,
    private readonly defaultHeaders: Record<string, string> = {},
    private readonly timeoutMs = 30_000,
  ) {
    const url = new URL(baseUrl);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  /** Resolves with the status code once the whole answer has been read. */
  post(path: string, body: string, headers: Record<string, string> = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          host: this.host,
          port: this.port,
          method: 'POST',
          path,
          headers: {
            ...this.defaultHeaders,
            ...headers,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          // The answer must be consumed for the socket to go back to the pool.
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
          res.once('error', reject);
        },
      );
      req.setTimeout(this.timeoutMs, () =>
        req.destroy(new Error(`timeout after ${this.timeoutMs} ms`)),
      );
      req.once('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
