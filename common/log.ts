/**
 * Structured logs (pino) to stderr, so stdout stays free for machine output
 * (`cairn replay --json`). Level from CAIRN_LOG_LEVEL (default "info").
 */
import { pino, type Logger } from 'pino';

export type { Logger };

let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino({ level: process.env.CAIRN_LOG_LEVEL ?? 'info', base: undefined }, pino.destination({ fd: 2, sync: true }));
  return root;
}

export function logger(component: string): Logger {
  return rootLogger().child({ c: component });
}
