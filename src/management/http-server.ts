/**
 * The management port (service.manage; 127.0.0.1:8902 unless configured).
 *
 *   GET  /health/live                       200 while the process serves requests
 *   GET  /health/ready                      200 when listening and the destination is reachable, else 503
 *   GET  /manage/rest/v1/metrics            metrics as JSON
 *   GET  /manage/rest/v1/prometheus, /metrics   Prometheus text
 *   GET  /manage/rest/v1/logging            {"levels": {logger: level}}
 *   PUT  /manage/rest/v1/logging            body {"levels": {logger: level}}
 *   POST /manage/rest/v1/pause | /resume    answer every record with the retry code / stop doing so
 *
 * With a token configured, the mutating endpoints (PUT, POST) need `Authorization: Bearer <token>`.
 * A request body over 64 KiB gets 413, malformed JSON 400, an unknown path 404, a wrong method 405.
 */

import { timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { FerryError } from '../errors.js';
import { listenOn } from '../startup.js';

export interface ManagementTarget {
  readonly registry: Registry;
  /** `warnings`: conditions worth seeing that do not stop traffic (listed only when there are some) */
  ready(): { ready: boolean; reasons: string[]; warnings?: string[] };
  levels(): Record<string, string>;
  /** Apply levels; returns problems (nothing is applied when there are any). */
  setLevels(levels: Record<string, unknown>): string[];
  /** the XDR service's pause switch; absent when Ferry runs etcd mirrors only */
  readonly control?: { pause(): void; resume(): void; paused(): boolean };
}

const MAX_BODY = 64 * 1024;

/** A request the management port refuses: its status is the HTTP answer. */
class HttpError extends FerryError {
  readonly code = 'ERR_MANAGEMENT_REQUEST';
  readonly retriable = false;
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ManagementServer {
  private readonly server: Server;

  constructor(
    private readonly target: ManagementTarget,
    private readonly token: string | undefined,
    private readonly log: Logger,
  ) {
    this.server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status === 500) this.log.error({ err: (err as Error).message, url: req.url }, 'management request failed');
        send(res, status, { error: (err as Error).message });
      });
    });
    this.server.on('clientError', (err, socket) => {
      this.log.debug({ err: err.message, code: (err as { code?: string }).code }, 'malformed HTTP request');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Listen, or fail with ERR_LISTEN naming service.manage.port. */
  listen(port: number, address: string): Promise<{ address: string; port: number }> {
    return listenOn(this.server, port, address, 'service.manage.port');
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A trailing slash names the same endpoint (`/health/live/`).
    const path = (req.url ?? '/').split('?')[0]!.replace(/(.)\/+$/, '$1');
    const method = req.method ?? 'GET';
    const route = (methods: string[]): void => {
      // HEAD is GET without the body (Node leaves it out), for health checkers that send it.
      const allowed = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
      if (!allowed.includes(method)) {
        res.setHeader('Allow', allowed.join(', '));
        throw new HttpError(405, `${method} is not allowed on ${path}`);
      }
      if (method !== 'GET' && method !== 'HEAD') this.authorize(req);
    };
    switch (path) {
      case '/health/live':
        route(['GET']);
        send(res, 200, { status: 'live' });
        return;
      case '/health/ready': {
        route(['GET']);
        const r = this.target.ready();
        const warnings = r.warnings ?? [];
        send(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', reasons: r.reasons, ...(warnings.length > 0 ? { warnings } : {}) });
        return;
      }
      case '/manage/rest/v1/metrics':
        route(['GET']);
        send(res, 200, await this.target.registry.getMetricsAsJSON());
        return;
      case '/manage/rest/v1/prometheus':
      case '/metrics':
        route(['GET']);
        res.writeHead(200, { 'Content-Type': this.target.registry.contentType });
        res.end(await this.target.registry.metrics());
        return;
      case '/manage/rest/v1/logging': {
        route(['GET', 'PUT']);
        if (method === 'PUT') {
          const body = await readJson(req);
          const levels = (body as { levels?: unknown }).levels;
          if (levels === null || typeof levels !== 'object' || Array.isArray(levels)) throw new HttpError(400, 'body must be {"levels": {"<logger>": "<level>"}}');
          const problems = this.target.setLevels(levels as Record<string, unknown>);
          if (problems.length > 0) throw new HttpError(400, problems.join('; '));
          this.log.info({ levels }, 'log levels changed');
        }
        send(res, 200, { levels: this.target.levels() });
        return;
      }
      case '/manage/rest/v1/pause':
      case '/manage/rest/v1/resume':
        route(['POST']);
        await drainBody(req);
        {
          const c = this.target.control;
          if (c === undefined) throw new HttpError(404, 'nothing to pause: this Ferry runs no XDR service');
          const was = c.paused();
          if (path.endsWith('pause')) c.pause();
          else c.resume();
          if (c.paused() !== was) this.log.warn({ paused: c.paused() }, c.paused() ? 'paused: every record is answered with the retry code' : 'resumed');
          send(res, 200, { paused: c.paused() });
        }
        return;
      default:
        throw new HttpError(404, `no such endpoint: ${path}`);
    }
  }

  private authorize(req: IncomingMessage): void {
    if (this.token === undefined) return;
    // The scheme's name is case-insensitive (RFC 9110, 11.1).
    const given = /^bearer +(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new HttpError(401, 'a valid bearer token is required');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY) {
      reject(new HttpError(413, `request body over ${MAX_BODY} bytes`));
      req.resume();
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        // Answer now; the rest is read and dropped (bounded by the request timeout).
        if (parts.length > 0) parts.length = 0;
        reject(new HttpError(413, `request body over ${MAX_BODY} bytes`));
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

async function drainBody(req: IncomingMessage): Promise<void> {
  await readBody(req);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
}
