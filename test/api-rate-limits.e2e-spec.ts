import {
  ApiAnswer,
  ApiClient,
  AppProcess,
  IsolatedDatabase,
  createIsolatedDatabase,
  sleep,
  testEnvironment,
  uniqueAccountId,
} from '@libs/testing';

interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
}

/**
 * 1 request a second with a burst of 5: five requests in any five seconds. A long window, so a
 * slow machine cannot let a request expire while the test spends the burst.
 */
const ACCOUNT_BURST = 5;
const ACCOUNT_WINDOW_S = 5;
/** 2 a second with a burst of 20: twenty requests in any ten seconds. */
const ADMIN_BURST = 20;

const quota = (answer: ApiAnswer<unknown>) => ({
  limit: answer.headers.get('ratelimit-limit'),
  remaining: answer.headers.get('ratelimit-remaining'),
});

describe('API rate limits per key (e2e)', () => {
  let database: IsolatedDatabase;
  let api: AppProcess;
  let admin: ApiClient;

  beforeAll(async () => {
    database = await createIsolatedDatabase();
    api = await AppProcess.start(
      'api',
      testEnvironment({
        DATABASE_URL: database.url,
        API_RATE_LIMIT_PER_S: '1',
        API_RATE_LIMIT_BURST: String(ACCOUNT_BURST),
        ADMIN_API_RATE_LIMIT_PER_S: '2',
        ADMIN_API_RATE_LIMIT_BURST: String(ADMIN_BURST),
      }),
    );
    admin = new ApiClient(api.url);
  });

  afterAll(async () => {
    await api?.stop();
    await database?.drop();
  });

  const newKey = async (account = uniqueAccountId('rl')) => {
    const created = await admin.post<{ id: string; key: string }>(
      `/v1/accounts/${account}/api-keys`,
      {},
    );
    expect(created.status).toBe(201);
    return { ...created.body, account, client: admin.withKey(created.body.key) };
  };

  /** Alternates routes: the budget belongs to the key, not to one route. */
  const spend = (client: ApiClient, n: number) =>
    client.get(n % 2 === 0 ? '/v1/webhooks' : '/v1/deliveries');

  const spendBurst = async (client: ApiClient): Promise<ApiAnswer<unknown>[]> => {
    const answers: ApiAnswer<unknown>[] = [];
    for (let n = 0; n < ACCOUNT_BURST; n += 1) answers.push(await spend(client, n));
    return answers;
  };

  it('answers 429 with Retry-After and RateLimit fields after a key spends its burst; other keys go on', async () => {
    const own = await newKey();
    const other = await newKey();

    const burst = await spendBurst(own.client);
    expect(burst.map((answer) => answer.status)).toEqual(Array(ACCOUNT_BURST).fill(200));
    expect(burst.map(quota)).toEqual(
      [4, 3, 2, 1, 0].map((left) => ({ limit: String(ACCOUNT_BURST), remaining: String(left) })),
    );

    const refused = await own.client.post<ErrorBody>('/v1/events', {
      type: 'user.created',
      account_id: own.account,
      data: {},
    });
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      statusCode: 429,
      error: 'Too Many Requests',
      message: expect.stringMatching(/5 requests in any 5 s: retry after \d s/),
    });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(ACCOUNT_WINDOW_S);
    expect(quota(refused)).toEqual({ limit: String(ACCOUNT_BURST), remaining: '0' });
    expect(refused.headers.get('ratelimit-reset')).toBe(String(retryAfter));

    // Another account's key and the admin key each have a budget of their own.
    const elsewhere = await other.client.get('/v1/webhooks');
    expect([elsewhere.status, quota(elsewhere)]).toEqual([200, { limit: '5', remaining: '4' }]);
    const operator = await admin.get('/v1/webhooks');
    expect([operator.status, operator.headers.get('ratelimit-limit')]).toEqual([200, '20']);
    // Still refused: the other callers did not spend this key's budget, nor it theirs.
    expect((await spend(own.client, 0)).status).toBe(429);
  });

  it('takes the key again once Retry-After has passed', async () => {
    const { client } = await newKey();
    await spendBurst(client);
    const refused = await spend(client, 0);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);

    await sleep(retryAfter * 1000);
    const again = await spend(client, 1);
    expect(again.status).toBe(200);
  });

  it('never lets a request without a valid key spend a valid key’s budget', async () => {
    const target = await newKey();
    const idHex = target.id.replace(/-/g, '');
    const wrongSecret = `whk_${idHex}_${'A'.repeat(43)}`;
    const impostors = [
      admin.withKey(wrongSecret),
      admin.withKey(`${target.key}x`),
      admin.withKey('not-a-key-at-all'),
      admin.withKey(null),
    ];
    const answers = await Promise.all(
      Array.from({ length: 5 * ACCOUNT_BURST }, (_, n) =>
        spend(impostors[n % impostors.length], n),
      ),
    );
    expect(new Set(answers.map((answer) => answer.status))).toEqual(new Set([401]));
    expect(answers.filter((answer) => answer.headers.has('ratelimit-remaining'))).toEqual([]);

    // The whole burst is still there.
    const burst = await spendBurst(target.client);
    expect(burst.map((answer) => answer.status)).toEqual(Array(ACCOUNT_BURST).fill(200));
    expect(quota(burst[0])).toEqual({ limit: '5', remaining: '4' });
  });

  it('limits the admin key apart, and never health or metrics', async () => {
    const account = await newKey();
    let served = 0;
    let refused: ApiAnswer<ErrorBody> | undefined;
    for (let n = 0; n <= ADMIN_BURST && refused === undefined; n += 1) {
      const answer = await admin.get<ErrorBody>('/v1/webhooks');
      if (answer.status === 429) refused = answer;
      else served += 1;
    }
    // Creating keys above spent some of the admin budget already.
    expect(served).toBeLessThan(ADMIN_BURST);
    expect(refused?.status).toBe(429);
    expect(refused?.headers.get('ratelimit-limit')).toBe(String(ADMIN_BURST));
    expect(Number(refused?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    expect((await account.client.get('/v1/webhooks')).status).toBe(200);
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      const response = await fetch(`${api.url}${path}`);
      expect([path, response.status, response.headers.has('ratelimit-limit')]).toEqual([
        path,
        200,
        false,
      ]);
    }
  });
});
