import { AppConfig, ConfigError, loadConfig, loadEncryptionConfig } from './app-config';
import { EncryptionConfig } from './encryption-keys';
import { environmentSchema } from './config.schema';

/** For main.ts: a bad configuration ends the process with one line per bad variable. */
export function loadConfigOrExit(appName: string): AppConfig {
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${appName} cannot start. ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/**
 * For the migration entry point, which needs only the database: DATABASE_URL, validated as the
 * apps validate it, or an exit naming the problem.
 */
export function databaseUrlOrExit(appName: string): string {
  const shape = environmentSchema.innerType().shape;
  const result = shape.DATABASE_URL.safeParse(process.env.DATABASE_URL || undefined);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `DATABASE_URL: ${issue.message}`);
    process.stderr.write(`${appName} cannot start. ${new ConfigError(problems).message}\n`);
    process.exit(1);
  }
  return result.data;
}

/** For the migration and re-encryption entry points: the encryption settings, or an exit. */
export function encryptionConfigOrExit(appName: string): EncryptionConfig {
  try {
    return loadEncryptionConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${appName} cannot start. ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
