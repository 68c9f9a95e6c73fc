// Sextant's TypeScript client, for Node (18+) and browsers: `fetch` underneath.
//
// The request and answer types come from the server's own OpenAPI document
// (`src/generated/schema.ts`, written by `npm run generate` from `/openapi.json`), so a
// parameter the server starts to require is a compile error here, not a 400 in
// production. Above them, a thin resource-oriented layer (`client.ingestion.import`,
// `client.query.segmentation`, `client.export.events`) with the Rust client's rules:
//
// - a 429 is always retried, not before its `Retry-After`;
// - a 5xx only when the call is idempotent (a read, an `/import` whose every event has
//   an `$insert_id`), and a 503 only when it says when to come back;
// - a 4xx never; every call within a budget of attempts and time;
// - errors carry the status, the error code, the message, the request id and, for the
//   usual refusals, a hint.

import type { components, paths } from "./generated/schema.js";

type Schemas = components["schemas"];
/** An event as `/import` and `/track` take it. */
export type EventRecord = Schemas["EventRecord"];
/** A profile update as `/engage` and `/groups` take it. */
export type ProfileUpdateRecord = Schemas["ProfileUpdateRecord"];
/** A record refused by a strict import. */
export type FailedRecord = Schemas["FailedRecord"];
/** One page of the engage query. */
export type EngagePage = Schemas["EngagePage"];
/** One profile of an engage page. */
export type EngageProfile = Schemas["EngageProfile"];
/** The form of a JQL request. */
export type JqlForm = Schemas["JqlForm"];

/** The query-string parameters of `method` on `path`, as the document lists them. */
export type QueryParams<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  parameters: { query: infer Q };
}
  ? Q
  : paths[P][M] extends { parameters: { query?: infer Q } }
    ? NonNullable<Q>
    : never;

export type SegmentationParams = QueryParams<"/api/query/segmentation", "get">;
export type FunnelParams = QueryParams<"/api/query/funnels", "get">;
export type RetentionParams = QueryParams<"/api/query/retention", "get">;
export type EngageParams = QueryParams<"/api/query/engage", "post">;
export type ExportParams = QueryParams<"/api/2.0/export", "get">;

/** Who the client is. */
export type Credential =
  | { kind: "serviceAccount"; username: string; secret: string; projectId: number }
  | { kind: "projectSecret"; secret: string }
  | { kind: "apiToken"; token: string }
  | { kind: "projectToken"; token: string };

/** When and how failed calls are tried again. */
export interface RetryPolicy {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** The backoff's first step, in milliseconds. */
  baseDelayMs: number;
  /** The longest single backoff draw. */
  maxDelayMs: number;
  /** The most time one call may take before its last attempt starts. */
  maxElapsedMs: number;
}

export const defaultRetry: RetryPolicy = { maxAttempts: 6, baseDelayMs: 250, maxDelayMs: 30_000, maxElapsedMs: 120_000 };

export interface ClientOptions {
  /** The server, such as `https://analytics.example.com`. */
  baseUrl: string;
  credential: Credential;
  retry?: Partial<RetryPolicy>;
  /** A `fetch` of your own (a proxy, a test double); the global one otherwise. */
  fetch?: typeof fetch;
}

const HINTS: Record<number, string> = {
  401: "the credential is missing, wrong or expired: check the service account's username and secret (with its project id), the project secret, or the `sx_` token",
  403: "the credential is valid but may not do this: a token scoped to other API families, a service account without this project or with too small a role, or another region's host",
  404: "nothing at that id or path: check the id, and that the credential's project is the one that holds it",
  429: "over a rate limit, and waiting as `Retry-After` asks would exceed the client's retry budget (or used it up): lower the request rate, raise `retry`, or ask for a higher project limit",
};

/** A refusal from the server, or a call that got no answer (`status` 0). */
export class SextantError extends Error {
  constructor(
    readonly status: number,
    /** The App API's `error_code`, or the code the status stands for. */
    readonly code: string | undefined,
    message: string,
    /** The `X-Request-Id` the server answered with, to find the request in its log. */
    readonly requestId: string | undefined,
    readonly retryAfterMs: number | undefined,
    readonly attempts: number,
    /** The body as it came. */
    readonly body: string,
  ) {
    super(`${status}${code ? ` ${code}` : ""}: ${message}${requestId ? ` (request ${requestId})` : ""}`);
    this.name = "SextantError";
  }

  /** The likely cause and the fix, for the usual refusals. */
  hint(): string | undefined {
    if (this.status === 0) return "the server could not be reached: check the base URL and that the server is running";
    return HINTS[this.status];
  }
}

const CODE_OF_STATUS: Record<number, string> = {
  400: "INVALID_PARAM", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
  409: "CONFLICT", 410: "GONE", 413: "PAYLOAD_TOO_LARGE", 429: "RATE_LIMITED", 500: "INTERNAL_ERROR",
  502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE",
};

/** Reads a refusal in any family's shape: App API, Query API, ingestion. */
function refusal(status: number, body: string, headers: Headers, retryAfterMs: number | undefined, attempts: number) {
  let code: string | undefined;
  let message = body.slice(0, 300);
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    if (typeof parsed.error_code === "string") code = parsed.error_code;
    if (typeof parsed.message === "string") message = parsed.message;
    else if (typeof parsed.error === "string") message = parsed.error;
  } catch {
    // Not JSON (a proxy's page): the text is the message.
  }
  return new SextantError(status, code ?? CODE_OF_STATUS[status], message, headers.get("x-request-id") ?? undefined, retryAfterMs, attempts, body);
}

/** Whether a failure is tried again (and not before how long), as the rules above say. */
export function retryable(status: number, idempotent: boolean, retryAfterMs: number | undefined): boolean {
  if (status === 429) return true;
  if (status === 503) return idempotent && retryAfterMs !== undefined;
  return status >= 500 && idempotent;
}

/** The wait before attempt `attempt + 1`: full jitter under a doubling ceiling, at least `Retry-After`. */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined, unit = Math.random()): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 20));
  return (retryAfterMs ?? 0) + ceiling * unit;
}

interface Call {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, unknown>;
  body?: { text: string; contentType: string };
  idempotent: boolean;
}

export class SextantClient {
  private readonly base: URL;
  private readonly retry: RetryPolicy;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.base = new URL(options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
    if (this.base.username || this.base.password) throw new Error("the base URL must not hold credentials");
    this.retry = { ...defaultRetry, ...options.retry };
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** `GET /healthz`. */
  async health(): Promise<Schemas["Health"]> {
    return (await this.send({ method: "GET", path: "/healthz", idempotent: true })).json();
  }

  /** `/import`, `/track`, `/engage`. */
  readonly ingestion = {
    /** Imports a batch (at most 2,000 events); refused records come back with their index. */
    import: async (events: EventRecord[]): Promise<{ imported: number; failed: FailedRecord[] }> => {
      const idempotent = events.every((e) => e.properties["$insert_id"] !== undefined);
      return this.counted({ method: "POST", path: "/import", query: { strict: 1 }, body: json(events), idempotent });
    },
    /** Sends events as an SDK does (a project token is added to each as `token`). */
    track: async (events: EventRecord[]): Promise<void> => {
      const c = this.options.credential;
      const sent = c.kind === "projectToken" ? events.map((e) => ({ ...e, properties: { token: c.token, ...e.properties } })) : events;
      const idempotent = events.every((e) => e.properties["$insert_id"] !== undefined);
      const reply = (await (await this.send({ method: "POST", path: "/track", query: { verbose: 1 }, body: json(sent), idempotent })).json()) as { status: number; error?: string };
      if (reply.status !== 1) throw new SextantError(400, "INVALID_PARAM", reply.error ?? "no event was valid", undefined, undefined, 1, JSON.stringify(reply));
    },
    /** Updates user profiles (never retried after a server error: `$add` is not idempotent). */
    engage: async (updates: ProfileUpdateRecord[]): Promise<{ imported: number; failed: FailedRecord[] }> => {
      const c = this.options.credential;
      const sent = c.kind === "projectToken" ? updates.map((u) => ({ $token: c.token, ...u })) : updates;
      return this.counted({ method: "POST", path: "/engage", query: { strict: 1, verbose: 1 }, body: json(sent), idempotent: false });
    },
  };

  /** The Query API. */
  readonly query = {
    segmentation: async (params: SegmentationParams): Promise<Record<string, any>> =>
      (await this.send({ method: "GET", path: "/api/query/segmentation", query: params, idempotent: true })).json(),
    funnels: async (params: FunnelParams): Promise<Record<string, any>> =>
      (await this.send({ method: "GET", path: "/api/query/funnels", query: params, idempotent: true })).json(),
    retention: async (params: RetentionParams): Promise<Record<string, any>> =>
      (await this.send({ method: "GET", path: "/api/query/retention", query: params, idempotent: true })).json(),
    /** One page of profiles. */
    engage: async (params: EngageParams): Promise<EngagePage> =>
      (await this.send({ method: "POST", path: "/api/query/engage", body: form(params), idempotent: true })).json(),
    /** Every profile, page after page of one snapshot. */
    engageAll: (params: EngageParams): AsyncGenerator<EngageProfile> => this.engagePages(params),
    jql: async (params: JqlForm): Promise<unknown[]> =>
      (await this.send({ method: "POST", path: "/api/query/jql", body: form(params), idempotent: true })).json(),
  };

  /** Raw export. */
  readonly export = {
    /** The range's events, in time order, read as the server streams them. */
    events: (params: ExportParams): AsyncGenerator<EventRecord> => this.exportLines(params),
  };

  private async *engagePages(params: EngageParams): AsyncGenerator<EngageProfile> {
    let next: EngageParams = { ...params };
    let seen = 0;
    for (;;) {
      const page = await this.query.engage(next);
      yield* page.results;
      seen += page.results.length;
      if (page.results.length === 0 || seen >= page.total) return;
      next = { ...next, page: page.page + 1, session_id: page.session_id };
    }
  }

  private async *exportLines(params: ExportParams): AsyncGenerator<EventRecord> {
    const response = await this.send({ method: "GET", path: "/api/2.0/export", query: params, idempotent: true });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += value;
      let at: number;
      while ((at = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, at).trim();
        pending = pending.slice(at + 1);
        if (line) yield JSON.parse(line) as EventRecord;
      }
    }
    if (pending.trim()) yield JSON.parse(pending) as EventRecord;
  }

  private async counted(call: Call): Promise<{ imported: number; failed: FailedRecord[] }> {
    let reply: Schemas["StrictReply"] & { status: unknown };
    try {
      reply = await (await this.send(call)).json();
    } catch (e) {
      // A strict 400 that names the records it refused kept the others.
      if (!(e instanceof SextantError) || e.status !== 400) throw e;
      const body = JSON.parse(e.body) as Schemas["StrictReply"];
      if (!body.failed_records) throw e;
      return { imported: body.num_records_imported ?? 0, failed: body.failed_records };
    }
    return { imported: reply.num_records_imported ?? 0, failed: reply.failed_records ?? [] };
  }

  /** Sends `call` until it succeeds or the retry policy ends it. */
  private async send(call: Call): Promise<Response> {
    const url = new URL(call.path.replace(/^\//, ""), this.base);
    for (const [k, v] of Object.entries(call.query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const c = this.options.credential;
    if (c.kind === "serviceAccount" && !url.searchParams.has("project_id")) url.searchParams.set("project_id", String(c.projectId));
    const headers: Record<string, string> = {};
    if (c.kind === "serviceAccount") headers.authorization = `Basic ${btoa(`${c.username}:${c.secret}`)}`;
    if (c.kind === "projectSecret") headers.authorization = `Basic ${btoa(`${c.secret}:`)}`;
    if (c.kind === "apiToken") headers.authorization = `Bearer ${c.token}`;
    if (call.body) headers["content-type"] = call.body.contentType;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      let failure: SextantError;
      let again: boolean;
      try {
        const response = await this.fetchImpl(url, { method: call.method, headers, body: call.body?.text });
        if (response.ok) return response;
        const header = response.headers.get("retry-after");
        const retryAfterMs = header && /^\d+$/.test(header.trim()) ? Number(header) * 1000 : undefined;
        failure = refusal(response.status, await response.text(), response.headers, retryAfterMs, attempt);
        again = retryable(response.status, call.idempotent, retryAfterMs);
      } catch (e) {
        // fetch rejects only when no answer came: retried when the call may be repeated.
        failure = new SextantError(0, undefined, `request to ${url.origin}${url.pathname} failed: ${String(e)}`, undefined, undefined, attempt, "");
        again = call.idempotent;
      }
      const elapsed = Date.now() - started;
      const floor = failure.retryAfterMs ?? 0;
      if (!again || attempt >= this.retry.maxAttempts || elapsed + floor > this.retry.maxElapsedMs) throw failure;
      const wait = Math.max(floor, Math.min(backoffMs(this.retry, attempt, failure.retryAfterMs), this.retry.maxElapsedMs - elapsed));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

function json(value: unknown) {
  return { text: JSON.stringify(value), contentType: "application/json" };
}

function form(params: object) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) body.set(k, String(v));
  }
  return { text: body.toString(), contentType: "application/x-www-form-urlencoded" };
}
