/**
 * The live hunt page, on a port of its own (CAIRN_PAGE_PORT): `/hunts/<id>` for
 * everyone, `/hunts/<id>/admin` behind the admin token. Pages are static files from
 * assets/ plus uPlot from node_modules (nothing from a CDN); the figures come by Server-
 * Sent Events from hunt-feed.ts. Read-only: it writes nothing but its own sessions.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { ID_RE } from '../../protocol/index.js';
import type { RedisKeys } from '../../backend/redis/keys.js';
import { logger } from '../../common/log.js';
import { AdminAuth } from './admin-auth.js';
import { HuntFeeds } from './hunt-feed.js';
import { RateHistory } from './rates.js';

const log = logger('live-page');

const ASSETS = fileURLToPath(new URL('./assets/', import.meta.url));
const UPLOT = dirname(createRequire(import.meta.url).resolve('uplot'));

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
/** Every file the page serves, by URL path. */
const FILES: Record<string, string> = {
  '/assets/hunt.js': join(ASSETS, 'hunt.js'),
  '/assets/admin.js': join(ASSETS, 'admin.js'),
  '/assets/page.css': join(ASSETS, 'page.css'),
  '/vendor/uPlot.iife.min.js': join(UPLOT, 'uPlot.iife.min.js'),
  '/vendor/uPlot.min.css': join(UPLOT, 'uPlot.min.css'),
};
const SECURITY = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
const MAX_FORM_BYTES = 4096;

export interface LivePageOptions {
  /** 0 picks a free port */
  port: number;
  host?: string;
  redis: Redis;
  keys: RedisKeys;
  /** where the gateway's (and in-process plugins') counters are: the rates */
  registry: Registry;
  adminToken: string;
  /** how often a watched hunt is read. @default 1000 */
  pollMs?: number;
}

export interface LivePage {
  port: number;
  /** base URL; a hunt's page is `${url}/hunts/<id>` */
  url: string;
  close(): Promise<void>;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startLivePage(opts: LivePageOptions): Promise<LivePage> {
  const auth = new AdminAuth(opts.adminToken);
  const rates = new RateHistory(opts.registry);
  const sampler = setInterval(() => void rates.sample().catch((err: unknown) => log.warn({ err }, 'live page: could not sample rates')), 1000);
  const feeds = new HuntFeeds(opts.redis, opts.keys, rates, opts.pollMs ?? 1000);

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...SECURITY, 'content-type': type, 'cache-control': 'no-store', ...extra }).end(body);
  };
  const page = async (res: ServerResponse, file: string, status = 200, message = ''): Promise<void> =>
    send(res, status, TYPES['.html']!, (await readFile(join(ASSETS, file), 'utf8')).replace('<!--message-->', escapeHtml(message)));

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    const file = FILES[path];
    if (file && req.method === 'GET') {
      send(res, 200, TYPES[file.slice(file.lastIndexOf('.'))]!, await readFile(file), { 'cache-control': 'max-age=300' });
      return;
    }
    if (path === '/' && req.method === 'GET') {
      const hunts = (await opts.redis.smembers(opts.keys.hunts())).filter((h) => ID_RE.test(h)).sort();
      const items = hunts.map((h) => `<li><a href="/hunts/${h}">${h}</a></li>`).join('') || '<li>no hunt has events yet</li>';
      send(res, 200, TYPES['.html']!, `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>Cairn hunts</title><link rel="stylesheet" href="/assets/page.css"><main><h1>Cairn hunts</h1><ul>${items}</ul></main>`);
      return;
    }
    const m = /^\/hunts\/([^/]+)(\/live|\/admin|\/admin\/live|\/login)?$/.exec(path);
    if (!m || !ID_RE.test(m[1]!)) {
      send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    const [, hunt, sub] = m as unknown as [string, string, string | undefined];
    if (sub === '/login' && req.method === 'POST') {
      const form = await readForm(req);
      const cookie = form === undefined ? undefined : auth.login(form.get('token') ?? '');
      if (!cookie) return page(res, 'login.html', 401, 'That token is not the admin token.');
      res.writeHead(303, { ...SECURITY, 'set-cookie': cookie, location: `/hunts/${hunt}/admin` }).end();
      return;
    }
    if (req.method !== 'GET') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET' });
      return;
    }
    if (sub === undefined) return page(res, 'hunt.html');
    if (sub === '/live') return feeds.watch(hunt, res, false);
    if (!auth.allowed(req)) {
      if (sub === '/admin') return page(res, 'login.html', 401);
      send(res, 401, 'text/plain; charset=utf-8', 'admin token required\n', { 'www-authenticate': 'Bearer' });
      return;
    }
    if (sub === '/admin') return page(res, 'admin.html');
    return feeds.watch(hunt, res, true);
  }

  const http = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'live page: request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.end();
    });
  });
  http.listen(opts.port, opts.host);
  await once(http, 'listening');
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1'}:${port}`;
  log.info({ url }, 'live page listening');
  return {
    port,
    url,
    async close() {
      clearInterval(sampler);
      feeds.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

/** The urlencoded body of a small form, or undefined when it is too large. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > MAX_FORM_BYTES) return undefined;
  }
  return new URLSearchParams(body);
}
