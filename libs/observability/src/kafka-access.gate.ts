import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { AppConfig } from '@libs/config';
import { KafkaAccessProblem, checkKafkaAccess } from '@libs/messaging';

// A refused password or certificate is fixed by a person; checking twice a minute is plenty.
const RECHECK_INTERVAL_MS = 30_000;

export interface KafkaAccessGateOptions {
  recheckIntervalMs?: number;
  check?: (config: AppConfig) => Promise<KafkaAccessProblem | undefined>;
}

/**
 * Runs before the app is built. When the brokers refuse the configuration (wrong SASL
 * password, untrusted certificate...), crashing would only make Kubernetes restart the pod
 * again and again with the same stack trace. Instead the process logs ONE line naming the
 * setting, serves /health/live 200 and /health/ready 503 (with the reason) on the app's port,
 * and checks again quietly; it logs again only when the reason changes, and returns (so the
 * app starts) once the brokers accept it, e.g. after the user was created on the broker.
 * An outage is not held here: the apps' own start-up retries deal with it as before.
 */
export async function waitForKafkaAccess(
  config: AppConfig,
  port: number,
  { recheckIntervalMs = RECHECK_INTERVAL_MS, check = checkAccess }: KafkaAccessGateOptions = {},
): Promise<void> {
  const first = await check(config);
  if (!first) return;
  let problem = first;

  const logger = pino({
    level: config.logLevel,
    base: { pid: process.pid, context: 'KafkaAccess' },
  });
  logger.error({ setting: problem.setting }, `Kafka refused the connection: ${problem.message}`);
  const server = await standbyServer(port, () => problem);
  try {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, recheckIntervalMs));
      const next = await check(config);
      if (!next) break;
      if (next.message !== problem.message) {
        logger.error({ setting: next.setting }, `Kafka refused the connection: ${next.message}`);
      }
      problem = next;
    }
  } finally {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Idle keep-alive connections (a metrics scraper's) would hold the port for seconds.
    server.closeAllConnections();
    await closed;
  }
  logger.info('Kafka accepts the connection now: starting');
}

function checkAccess(config: AppConfig): Promise<KafkaAccessProblem | undefined> {
  return checkKafkaAccess(config.kafka);
}

/** Liveness says "running, do not restart me"; everything else says why it cannot work. */
async function standbyServer(
  port: number,
  currentProblem: () => KafkaAccessProblem,
): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const { setting, message } = currentProblem();
    const [status, body] =
      path === '/health/live'
        ? [200, { status: 'ok', info: {}, error: {}, details: {} }]
        : path === '/health/ready'
          ? [
              503,
              {
                status: 'error',
                info: {},
                error: { kafka: { status: 'down', setting, message } },
                details: { kafka: { status: 'down', setting, message } },
              },
            ]
          : [503, { statusCode: 503, error: 'Service Unavailable', message }];
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return server;
}
