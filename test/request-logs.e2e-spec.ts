import {
  ApiClient,
  AppProcess,
  IsolatedDatabase,
  createIsolatedDatabase,
  eventually,
  testEnvironment,
  uniqueAccountId,
} from '@libs/testing';

interface RequestLine {
  level: number;
  msg: string;
  req: { id: unknown; method: string; url: string; headers: Record<string, string> };
  res: { statusCode: number };
  responseTime: number;
}

/** The api's request lines (pino JSON, one per line), in the order written. */
function requestLines(logs: string): RequestLine[] {
  return logs
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Partial<RequestLine>)
    .filter((line): line is RequestLine => line.req !== undefined && line.res !== undefined);
}

describe('request logs of the api (e2e)', () => {
  let database: IsolatedDatabase;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    database = await createIsolatedDatabase();
  });

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await database?.drop();
  });

  const start = async (level: string) => {
    const app = await AppProcess.start(
      'api',
      testEnvironment({ DATABASE_URL: database.url, LOG_LEVEL: level }),
    );
    apps.push(app);
    return { app, api: new ApiClient(app.url) };
  };
  const event = () => ({ type: 'user.created', account_id: uniqueAccountId('logs'), data: {} });

  it('at info: a line per request, a refusal as a warning, the key redacted, the probes left out', async () => {
    const { app, api } = await start('info');
    expect((await api.post('/v1/events', event())).status).toBe(202);
    expect((await api.post('/v1/events', { type: 'nope' })).status).toBe(400);
    expect((await fetch(`${app.url}/health/ready`)).status).toBe(200);

    const lines = await eventually(() => {
      const found = requestLines(app.logs()).filter(({ req }) => req.url === '/v1/events');
      expect(found).toHaveLength(2);
      return found;
    });
    expect(
      lines.map(({ level, msg, req, res }) => [level, msg, req.method, res.statusCode]),
    ).toEqual([
      [30, 'request completed', 'POST', 202],
      [40, 'request completed', 'POST', 400],
    ]);
    for (const line of lines) {
      expect(line.req.headers.authorization).toBe('[Redacted]');
      expect(line.responseTime).toEqual(expect.any(Number));
      expect(line.req.id).toBeDefined();
    }
    expect(requestLines(app.logs()).filter(({ req }) => req.url.startsWith('/health'))).toEqual([]);
  });

  it('at warn: only the refusals', async () => {
    const { app, api } = await start('warn');
    expect((await api.post('/v1/events', event())).status).toBe(202);
    expect((await api.get('/v1/nothing-here')).status).toBe(404);
    await eventually(() =>
      expect(requestLines(app.logs()).map(({ req, res }) => [req.url, res.statusCode])).toEqual([
        ['/v1/nothing-here', 404],
      ]),
    );
  });
});
