/** The developer's local infrastructure, shared by `npm run up` and `npm run infra:up|down`. */
import path from 'node:path';
import { startBroker, stopBroker, type BrokerStatus } from './kafka-broker';
import { ensureDatabase, startEmbeddedPostgres, stopEmbeddedPostgres } from './postgres';

export const repoRoot = path.resolve(__dirname, '..', '..');

// Git-ignored; the data survives restarts.
const localDir = path.join(repoRoot, '.local');

export const LOCAL_KAFKA = {
  dataDir: path.join(localDir, 'kafka'),
  port: 19092,
  controllerPort: 19093,
};

export const LOCAL_POSTGRES = {
  baseDir: path.join(localDir, 'postgres'),
  port: 15432,
  database: 'webhooks',
};

export const ADMIN_API_KEY_FILE = path.join(localDir, 'admin-api-key');

/** Starts the local broker, or reuses the one already answering on its port. */
export async function startLocalKafka(detached: boolean): Promise<BrokerStatus> {
  const status = await startBroker({ ...LOCAL_KAFKA, detached });
  if (!status.startedHere) {
    console.error(`[kafka] using the broker already running on ${status.brokers}`);
  }
  return status;
}

export interface LocalPostgres {
  databaseUrl: string;
  startedHere: boolean;
}

/** Starts the local embedded PostgreSQL, or reuses it, and makes sure its database exists. */
export async function startLocalPostgres(detached: boolean): Promise<LocalPostgres> {
  const { baseDir, port, database } = LOCAL_POSTGRES;
  const status = await startEmbeddedPostgres({ baseDir, port, durable: true, detached });
  if (!status.startedHere) {
    console.error(`[postgres] using the embedded server already running on 127.0.0.1:${port}`);
  }
  const databaseUrl = await ensureDatabase(status.serverUrl, database);
  return { databaseUrl, startedHere: status.startedHere };
}

export async function stopLocalKafka(): Promise<boolean> {
  return stopBroker(LOCAL_KAFKA.dataDir);
}

export async function stopLocalPostgres(): Promise<boolean> {
  return stopEmbeddedPostgres(LOCAL_POSTGRES.baseDir);
}
