import { AppConfig, ConfigError, loadConfig } from './app-config';

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
