/**
 * `npm run infra:up` / `npm run infra:down`: the local Kafka broker, and an embedded PostgreSQL
 * when DATABASE_URL is not set, left running in the background for apps started by hand.
 * Progress goes to stderr and the variables to stdout, so the output can be evaluated:
 *   set -a; eval "$(npm run -s infra:up)"; set +a
 * `npm run infra:up -- --sasl-ssl` starts, instead, a broker whose listener on 127.0.0.1:19094
 * takes only TLS with SASL/SCRAM-SHA-512 (a throwaway CA), and prints the settings for it.
 */
import {
  startLocalKafka,
  startLocalPostgres,
  startLocalSecureKafka,
  stopLocalKafka,
  stopLocalPostgres,
  stopLocalSecureKafka,
} from './infra/local';
import { errorMessage } from './infra/process';

async function up(): Promise<void> {
  const exports: string[] = [];
  if (process.argv.includes('--sasl-ssl')) {
    const settings = await startLocalSecureKafka(true);
    exports.push(...Object.entries(settings).map(([name, value]) => `${name}=${value}`));
  } else {
    const kafka = await startLocalKafka(true);
    exports.push(`KAFKA_BROKERS=${kafka.brokers}`);
  }
  if (process.env.DATABASE_URL) {
    console.error('[postgres] DATABASE_URL is set: no embedded PostgreSQL started');
  } else {
    const postgres = await startLocalPostgres(true);
    exports.push(`DATABASE_URL=${postgres.databaseUrl}`);
  }
  console.error('Local infrastructure is up (`npm run infra:down` stops it). Export:');
  console.log(exports.join('\n'));
}

async function down(): Promise<void> {
  const kafkaStopped = await stopLocalKafka();
  console.error(kafkaStopped ? '[kafka] broker stopped' : '[kafka] no local broker was running');
  if (await stopLocalSecureKafka()) console.error('[kafka] SASL_SSL broker stopped');
  const postgresStopped = await stopLocalPostgres();
  console.error(
    postgresStopped
      ? '[postgres] embedded server stopped'
      : '[postgres] no embedded server was running',
  );
}

const commands: Record<string, () => Promise<void>> = { up, down };
const command = commands[process.argv[2] ?? ''];
if (!command) {
  console.error('usage: tsx scripts/infra.ts up|down');
  process.exit(2);
}
command().catch((error: unknown) => {
  console.error(`infra ${process.argv[2]} failed: ${errorMessage(error)}`);
  process.exit(1);
});
