/**
 * Who may see the admin view: a request with `Authorization: Bearer <token>`, or with the
 * session cookie that POST /login sets after the token was typed into its form. The
 * token never travels in a URL, so a link someone shares opens only the public view.
 * Sessions live in memory (a restart logs admins out) and expire.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const SESSION_COOKIE = 'cairn_admin';
const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const MAX_SESSIONS = 1000;

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export class AdminAuth {
  /** session id -> expiry (ms) */
  private readonly sessions = new Map<string, number>();

  constructor(private readonly token: string) {
    if (!token) throw new Error('live page: the admin token must not be empty');
  }

  /** Whether the request carries the token or a live session. */
  allowed(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && sameSecret(auth.slice(7).trim(), this.token)) return true;
    const id = cookie(req, SESSION_COOKIE);
    const expires = id === undefined ? undefined : this.sessions.get(id);
    if (expires === undefined) return false;
    if (expires < Date.now()) {
      this.sessions.delete(id!);
      return false;
    }
    return true;
  }

  /** A Set-Cookie value for a new session when `token` is right, else undefined. */
  login(token: string): string | undefined {
    if (!sameSecret(token, this.token)) return undefined;
    const now = Date.now();
    for (const [id, exp] of this.sessions) if (exp < now) this.sessions.delete(id);
    // The oldest session goes first when too many logins pile up.
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(24).toString('base64url');
    this.sessions.set(id, now + SESSION_TTL_MS);
    return `${SESSION_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}`;
  }
}
