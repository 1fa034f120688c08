/** `cairn gateway` as a child process against a stack's Redis prefix and stream, for tests that kill it. */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Stack } from '../../cli/stack.js';

const BIN = new URL('../../bin/cairn.js', import.meta.url).pathname;

/** Starts `cairn gateway` on `port`; resolves once it listens. */
export async function startGatewayProcess(s: Stack, port: number, token: string): Promise<ChildProcess> {
  const child = spawn('node', [BIN, 'gateway'], {
    env: {
      ...process.env,
      CAIRN_REDIS_URL: s.redisUrl,
      CAIRN_REDIS_PREFIX: s.keys.prefix,
      CAIRN_KINESIS_ENDPOINT: s.kinesisEndpoint,
      CAIRN_KINESIS_STREAM: s.stream,
      CAIRN_GATEWAY_PORT: String(port),
      CAIRN_TOKEN: token,
      CAIRN_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway not listening within 60 s; output:\n${seen}`)), 60_000);
    // Read stderr for as long as the process lives, so a full pipe never blocks it.
    child.stderr!.on('data', (d: Buffer) => {
      seen = (seen + d.toString()).slice(-20_000);
      if (/cairn gateway listening/.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code ?? signal}) before listening; output:\n${seen}`));
    });
  });
  return child;
}

/** The gateway's open WebSocket connections, from its /metrics. */
export async function gatewayConnections(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = /^cairn_gateway_connections (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}
