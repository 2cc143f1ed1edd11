/**
 * OCI distribution API v2 client: manifests, blobs, cross-repository mounts and uploads, with
 * anonymous, HTTP basic and bearer-token (Docker Hub flow) authentication.
 *
 * ## Where credentials go (the forwarding rule)
 *
 * A registry's credentials (from the credential store, keyed by registry host[:port]) and the tokens
 * obtained with them are sent only to:
 *
 * 1. the registry's own origin (scheme + host + port) — every request tsstack builds itself;
 * 2. the token realm named in a `WWW-Authenticate: Bearer realm=…` challenge that came *from the
 *    registry's own origin*, and only when that realm is `https:` or a host this client would talk plain
 *    HTTP to anyway (loopback or listed in `insecureRegistries`). This is what Docker does: the registry
 *    chose the realm, and a registry we already trust with the password could forward it anywhere
 *    itself; refusing would break Docker Hub (`registry-1.docker.io` → `auth.docker.io`). The realm gets
 *    HTTP basic credentials only, never the bearer token.
 *
 * Nothing else ever gets an `Authorization` header: redirects are followed by hand (`redirect:
 * "manual"`) and the header is dropped as soon as a hop leaves the registry's origin (blob downloads
 * redirected to a CDN or object store, upload `Location`s on another host); a 401 challenge from any
 * origin but the registry's is an error, never a reason to authenticate; credentials stored for one
 * host:port are never used for another (the store is keyed by the exact host[:port]).
 *
 * ## Plain HTTP
 *
 * Like Docker, tsstack talks HTTPS to every registry except loopback ones (`localhost`, 127.0.0.0/8,
 * `::1`) and those listed in `insecureRegistries` (host, host:port or IPv4/IPv6 CIDR). Unlike Docker it
 * does not first try HTTPS against those: a registry the user marked insecure or that runs on loopback
 * is reached over plain HTTP directly, which keeps failures immediate and the scheme predictable.
 */
import { BlockList, isIP } from "node:net";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { TsstackError } from "../../../common/errors.js";
import { isDigest, sha256 } from "../digest.js";
import { MediaType, type Digest } from "../types.js";

/** Username/password for one registry. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Where the client finds credentials; the credential store (credentials.ts) implements it. */
export interface CredentialSource {
  /** Credentials for exactly this registry host[:port] (`docker.io` for Docker Hub), if any. */
  get(registry: string): Promise<Credentials | undefined>;
}

/** A repository on a registry, e.g. `{ registry: "127.0.0.1:5000", repository: "team/app" }`. */
export interface RepositoryRef {
  readonly registry: string;
  readonly repository: string;
}

export interface RegistryClientOptions {
  /**
   * Registries reached over plain HTTP: `host`, `host:port`, or a CIDR (`10.0.0.0/8`). Loopback
   * registries always are. Default: none.
   */
  readonly insecureRegistries?: readonly string[];
  /** Credentials per registry. Default: anonymous everywhere. */
  readonly credentials?: CredentialSource;
  /** The HTTP implementation (tests inject one). Default: the global `fetch`. */
  readonly fetch?: typeof globalThis.fetch;
  /** Clock for token expiry, in ms. Default: `Date.now`. */
  readonly now?: () => number;
  /** Default: `tsstack`. */
  readonly userAgent?: string;
  /** Redirects followed per request. Default: 5. */
  readonly maxRedirects?: number;
}

/** A manifest or index as fetched: the exact bytes (digests are over bytes, never re-serialized JSON). */
export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: Digest;
}

/** Every manifest shape tsstack reads, most preferred first. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
].join(", ");

/** Manifests larger than this are refused (containerd's limit): they are read into memory. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Tokens are renewed this long before they expire, so a request never races the expiry. */
const TOKEN_EXPIRY_MARGIN_MS = 10_000;

interface BearerChallenge {
  readonly realm: URL;
  readonly service?: string;
}

interface RegistryAuthState {
  scheme?: "basic" | "bearer";
  bearer?: BearerChallenge;
  /** Token (request) per sorted scope set. */
  readonly tokens: Map<string, Promise<{ readonly token: string; readonly expiresAt: number }>>;
}

type RequestBody = NonNullable<RequestInit["body"]>;

interface RequestOptions {
  readonly method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  /** Token scopes this request needs, e.g. `repository:team/app:pull`. */
  readonly scopes: readonly string[];
  /** What the caller was doing, for error messages (`pull 127.0.0.1:5000/app:1`). */
  readonly operation: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A factory, because a body stream is consumed by the first attempt and a 401 retry needs another. */
  readonly body?: () => RequestBody;
}

/** Docker's Hub aliases all mean the same registry and the same credentials. */
const DOCKER_HUB_ALIASES = new Set([
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "registry.hub.docker.com",
]);

/** `docker.io` for every Docker Hub alias (also `https://index.docker.io/v1/`), else host[:port] lower-cased. */
export function normalizeRegistryHost(registry: string): string {
  let host = registry.trim().toLowerCase();
  host = host.replace(/^[a-z]+:\/\//, "").replace(/\/.*$/, "");
  return DOCKER_HUB_ALIASES.has(host) ? "docker.io" : host;
}

/** Splits `host:port`, `[v6]:port`, `v6` into the bare host and the port (if any). */
export function splitHostPort(hostPort: string): { host: string; port?: string } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(hostPort);
  if (v6) return v6[2] === undefined ? { host: v6[1] ?? "" } : { host: v6[1] ?? "", port: v6[2] };
  if (isIP(hostPort) === 6) return { host: hostPort };
  const i = hostPort.lastIndexOf(":");
  return i < 0 ? { host: hostPort } : { host: hostPort.slice(0, i), port: hostPort.slice(i + 1) };
}

/** `localhost`, 127.0.0.0/8 or `::1` (literal names only: no DNS lookups decide the scheme). */
export function isLoopbackHost(hostPort: string): boolean {
  const { host } = splitHostPort(hostPort.toLowerCase());
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || host === "0:0:0:0:0:0:0:1";
  return false;
}

/**
 * Whether `registry` is reached over plain HTTP: loopback, or matched by an `insecureRegistries` entry
 * (same host:port, same host when the entry has no port, or an IP inside an entry's CIDR).
 */
export function allowsPlainHttp(registry: string, insecureRegistries: readonly string[] = []): boolean {
  const target = normalizeRegistryHost(registry);
  if (isLoopbackHost(target)) return true;
  const { host } = splitHostPort(target);
  const ipFamily = isIP(host);
  for (const raw of insecureRegistries) {
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(raw.trim());
    if (cidr) {
      const [, net = "", bits = ""] = cidr;
      const family = isIP(net);
      if (family === 0 || ipFamily !== family) continue;
      const list = new BlockList();
      list.addSubnet(net, Number(bits), family === 6 ? "ipv6" : "ipv4");
      if (list.check(host, family === 6 ? "ipv6" : "ipv4")) return true;
      continue;
    }
    const entry = normalizeRegistryHost(raw);
    if (entry === target) return true;
    if (splitHostPort(entry).port === undefined && splitHostPort(entry).host === host) return true;
  }
  return false;
}

/** The base URL of a registry's API: `http://` only where {@link allowsPlainHttp} says so. */
export function registryBaseUrl(registry: string, insecureRegistries: readonly string[] = []): URL {
  const host = normalizeRegistryHost(registry);
  // Docker Hub's API is served from registry-1.docker.io; the credentials stay keyed as docker.io.
  const apiHost = host === "docker.io" ? "registry-1.docker.io" : host;
  const scheme = allowsPlainHttp(host, insecureRegistries) ? "http" : "https";
  return new URL(`${scheme}://${apiHost}/`);
}

/** `repository:<name>:pull` / `…:pull,push`. */
export function repositoryScope(repository: string, actions: readonly ("pull" | "push")[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}

/** Parses one `WWW-Authenticate` header into its scheme and parameters (quoted strings unescaped). */
export function parseAuthenticate(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  const scheme = (m?.[1] ?? "").toLowerCase();
  const params: Record<string, string> = {};
  const re = /([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/gy;
  const rest = m?.[2] ?? "";
  re.lastIndex = 0;
  for (let p = re.exec(rest); p !== null; p = re.exec(rest)) {
    const key = (p[1] ?? "").toLowerCase();
    params[key] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : (p[3] ?? "");
  }
  return { scheme, params };
}

function basicAuthorization(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, "utf8").toString("base64")}`;
}

/** The registry's own explanation from an error body (`{"errors":[{"code","message"}]}`), if any. */
async function registryErrorText(res: Response): Promise<string> {
  let text: string;
  try {
    text = (await res.text()).slice(0, 4096);
  } catch {
    return "";
  }
  try {
    const parsed = JSON.parse(text) as {
      errors?: { code?: unknown; message?: unknown }[];
      details?: unknown;
    };
    // Token services answer {"details": "..."} (Docker Hub's auth service does).
    if (typeof parsed.details === "string") return parsed.details;
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
      return parsed.errors
        .map((e) => [e.code, e.message].filter((x) => typeof x === "string" && x !== "").join(" "))
        .join("; ");
    }
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return text.trim().split("\n")[0] ?? "";
}

export class RegistryClient {
  private readonly insecure: readonly string[];
  private readonly fetchImpl: typeof globalThis.fetch;
  private readonly now: () => number;
  private readonly userAgent: string;
  private readonly maxRedirects: number;
  private readonly auth = new Map<string, RegistryAuthState>();

  constructor(private readonly options: RegistryClientOptions = {}) {
    this.insecure = options.insecureRegistries ?? [];
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    this.userAgent = options.userAgent ?? "tsstack";
    this.maxRedirects = options.maxRedirects ?? 5;
  }

  baseUrl(registry: string): URL {
    return registryBaseUrl(registry, this.insecure);
  }

  /**
   * `GET /v2/`: checks the registry answers and, when `credentials` are given (login), that it accepts
   * them — through the token realm for bearer registries, as `docker login` does. Throws
   * `registry/unauthorized` when refused.
   */
  async ping(registry: string, credentials?: Credentials): Promise<void> {
    const host = normalizeRegistryHost(registry);
    const source: CredentialSource | undefined = credentials
      ? { get: () => Promise.resolve(credentials) }
      : this.options.credentials;
    // A login check must not reuse tokens obtained with other (or no) credentials.
    const state: RegistryAuthState = { tokens: new Map() };
    const res = await this.send(
      host,
      new URL("v2/", this.baseUrl(host)),
      { method: "GET", scopes: [], operation: `log in to ${host}` },
      state,
      source,
    );
    if (res.ok) {
      await res.body?.cancel();
      return;
    }
    if (res.status === 401) {
      const detail = await registryErrorText(res);
      const who = credentials ? `the credentials of ${credentials.username}` : "anonymous access";
      throw new TsstackError(
        "registry/unauthorized",
        `log in to ${host}: registry ${host} refused ${who}: 401 Unauthorized${detail ? `: ${detail}` : ""}`,
      );
    }
    throw await this.httpError(host, { method: "GET", scopes: [], operation: `log in to ${host}` }, res);
  }

  /** Fetches a manifest or index by tag or digest; verifies the bytes when `reference` is a digest. */
  async getManifest(repo: RepositoryRef, reference: string, context?: string): Promise<FetchedManifest> {
    const op = within(context, `fetch manifest ${repo.registry}/${repo.repository}:${reference}`);
    const res = await this.request(repo.registry, this.repoUrl(repo, `manifests/${reference}`), {
      method: "GET",
      scopes: [repositoryScope(repo.repository, ["pull"])],
      operation: op,
      headers: { accept: MANIFEST_ACCEPT },
    });
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > MAX_MANIFEST_BYTES) {
      await res.body?.cancel();
      throw new TsstackError(
        "registry/manifest-too-large",
        `${op}: manifest is ${declared} bytes (limit ${MAX_MANIFEST_BYTES})`,
      );
    }
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, op);
    const digest = sha256(bytes);
    if (reference.includes(":") && !isDigest(reference)) {
      throw new TsstackError(
        "registry/digest-mismatch",
        `${op}: cannot verify ${JSON.stringify(reference)}: only sha256 digests are supported`,
      );
    }
    if (isDigest(reference) && reference !== digest) {
      throw new TsstackError(
        "registry/digest-mismatch",
        `${op}: the registry sent a manifest whose digest is ${digest}, not the ${reference} asked for`,
      );
    }
    // The header is informational; when the registry states one, it must agree with the bytes.
    const headerDigest = res.headers.get("docker-content-digest");
    if (headerDigest?.startsWith("sha256:") && headerDigest !== digest) {
      throw new TsstackError(
        "registry/digest-mismatch",
        `${op}: Docker-Content-Digest says ${headerDigest} but the manifest bytes hash to ${digest}`,
      );
    }
    const contentType = (res.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
    return { bytes, digest, mediaType: manifestMediaType(contentType, bytes) };
  }

  /** `HEAD` a manifest: its digest and media type, or undefined when the registry has none. */
  async headManifest(
    repo: RepositoryRef,
    reference: string,
    context?: string,
  ): Promise<{ digest?: Digest; mediaType: string } | undefined> {
    const res = await this.request(
      repo.registry,
      this.repoUrl(repo, `manifests/${reference}`),
      {
        method: "HEAD",
        scopes: [repositoryScope(repo.repository, ["pull"])],
        operation: within(context, `check manifest ${repo.registry}/${repo.repository}:${reference}`),
        headers: { accept: MANIFEST_ACCEPT },
      },
      [404],
    );
    if (res.status === 404) return undefined;
    const digest = res.headers.get("docker-content-digest") ?? undefined;
    return { mediaType: res.headers.get("content-type") ?? "", ...(digest ? { digest } : {}) };
  }

  /** Uploads a manifest under a tag or digest; returns the digest of the bytes sent. */
  async putManifest(
    repo: RepositoryRef,
    reference: string,
    bytes: Buffer,
    mediaType: string,
    context?: string,
  ): Promise<Digest> {
    const res = await this.request(repo.registry, this.repoUrl(repo, `manifests/${reference}`), {
      method: "PUT",
      scopes: [repositoryScope(repo.repository, ["pull", "push"])],
      operation: within(context, `put manifest ${repo.registry}/${repo.repository}:${reference}`),
      headers: { "content-type": mediaType },
      body: () => bytes,
    });
    await res.body?.cancel();
    return sha256(bytes);
  }

  /** `HEAD` a blob: its size, or undefined when the repository does not have it. */
  async headBlob(repo: RepositoryRef, digest: Digest, context?: string): Promise<number | undefined> {
    const res = await this.request(
      repo.registry,
      this.repoUrl(repo, `blobs/${digest}`),
      {
        method: "HEAD",
        scopes: [repositoryScope(repo.repository, ["pull"])],
        operation: within(context, `check blob ${digest} in ${repo.registry}/${repo.repository}`),
      },
      [404],
    );
    if (res.status === 404) return undefined;
    return Number(res.headers.get("content-length") ?? "0");
  }

  /**
   * Opens a blob for reading. Redirects (CDNs, object stores) are followed without `Authorization`.
   * The caller verifies digest and size (the image store's `writeBlob` does).
   */
  async getBlob(repo: RepositoryRef, digest: Digest, context?: string): Promise<AsyncIterable<Uint8Array>> {
    const res = await this.request(repo.registry, this.repoUrl(repo, `blobs/${digest}`), {
      method: "GET",
      scopes: [repositoryScope(repo.repository, ["pull"])],
      operation: within(context, `download blob ${digest} from ${repo.registry}/${repo.repository}`),
      // Blobs are hashed as stored; a transparent decompression by fetch would break the digest.
      headers: { "accept-encoding": "identity" },
    });
    if (!res.body) return Readable.from([]);
    return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  }

  /**
   * Tries a cross-repository mount of `digest` from `from` (same registry). Returns true when mounted;
   * false when the registry declined (it then may have opened an upload session, which is returned so
   * the caller can upload into it instead of opening another).
   */
  async mountBlob(
    repo: RepositoryRef,
    digest: Digest,
    from: string,
    context?: string,
  ): Promise<{ mounted: true } | { mounted: false; uploadUrl?: URL }> {
    const url = this.repoUrl(repo, "blobs/uploads/");
    url.searchParams.set("mount", digest);
    url.searchParams.set("from", from);
    const res = await this.request(
      repo.registry,
      url,
      {
        method: "POST",
        scopes: [repositoryScope(repo.repository, ["pull", "push"]), repositoryScope(from, ["pull"])],
        operation: within(
          context,
          `mount blob ${digest} from ${from} into ${repo.registry}/${repo.repository}`,
        ),
        headers: { "content-length": "0" },
      },
      // A refused mount is not fatal: the blob is uploaded instead.
      [401, 403, 404],
    );
    await res.body?.cancel();
    if (res.status === 201) return { mounted: true };
    const location = res.status === 202 ? res.headers.get("location") : null;
    return location ? { mounted: false, uploadUrl: new URL(location, res.url || url) } : { mounted: false };
  }

  /**
   * Monolithic upload: `POST …/blobs/uploads/` (unless an upload session is given), then one `PUT
   * <location>?digest=…` carrying the whole blob. `open` is called once per attempt.
   */
  async uploadBlob(
    repo: RepositoryRef,
    blob: { readonly digest: Digest; readonly size: number },
    open: () => AsyncIterable<Uint8Array>,
    session?: URL,
    context?: string,
  ): Promise<void> {
    const scopes = [repositoryScope(repo.repository, ["pull", "push"])];
    const op = within(context, `upload blob ${blob.digest} to ${repo.registry}/${repo.repository}`);
    let uploadUrl = session;
    if (!uploadUrl) {
      const start = this.repoUrl(repo, "blobs/uploads/");
      const res = await this.request(repo.registry, start, {
        method: "POST",
        scopes,
        operation: op,
        headers: { "content-length": "0" },
      });
      await res.body?.cancel();
      const location = res.headers.get("location");
      if (res.status !== 202 || !location) {
        throw new TsstackError("registry/protocol", `${op}: expected 202 with a Location, got ${res.status}`);
      }
      // Location may be relative (resolved against the URL that answered) or absolute.
      uploadUrl = new URL(location, res.url || start);
    }
    const put = new URL(uploadUrl);
    put.searchParams.set("digest", blob.digest);
    const res = await this.request(repo.registry, put, {
      method: "PUT",
      scopes,
      operation: op,
      headers: { "content-type": "application/octet-stream", "content-length": String(blob.size) },
      body: () => open() as RequestBody,
    });
    await res.body?.cancel();
    if (res.status !== 201 && res.status !== 204) {
      throw new TsstackError("registry/protocol", `${op}: expected 201 Created, got ${res.status}`);
    }
  }

  private repoUrl(repo: RepositoryRef, suffix: string): URL {
    return new URL(`v2/${repo.repository}/${suffix}`, this.baseUrl(repo.registry));
  }

  private authState(registry: string): RegistryAuthState {
    let state = this.auth.get(registry);
    if (!state) {
      state = { tokens: new Map() };
      this.auth.set(registry, state);
    }
    return state;
  }

  /** One API request, authenticated as needed; non-2xx answers (except `allowed`) become typed errors. */
  private async request(
    registry: string,
    url: URL,
    opts: RequestOptions,
    allowed: readonly number[] = [],
  ): Promise<Response> {
    const host = normalizeRegistryHost(registry);
    const res = await this.send(host, url, opts, this.authState(host), this.options.credentials);
    if (res.ok || allowed.includes(res.status)) return res;
    throw await this.httpError(host, opts, res);
  }

  /**
   * Sends with whatever authentication is already known; on a 401 from the registry itself, learns the
   * challenge, authenticates once and retries. Returns the final response (errors are for the caller).
   */
  private async send(
    registry: string,
    url: URL,
    opts: RequestOptions,
    state: RegistryAuthState,
    credentials: CredentialSource | undefined,
  ): Promise<Response> {
    const origin = this.baseUrl(registry).origin;
    const creds = await credentials?.get(registry);
    // Scopes a challenge named for this request (e.g. a mount's source repository) on top of ours.
    let challengeScopes: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const scopes = [...new Set([...opts.scopes, ...challengeScopes])].filter((x) => x !== "").sort();
      const authorization = await this.authorizationFor(registry, state, creds, scopes, opts.operation);
      const res = await this.fetchFollowing(url, origin, opts, authorization);
      if (res.status !== 401 || attempt > 0) return res;
      if (new URL(res.url || url).origin !== origin) {
        // Never authenticate to a host the credentials do not belong to (e.g. a CDN asking for them).
        return res;
      }
      const challenge = res.headers.get("www-authenticate");
      if (!challenge) return res;
      const { scheme, params } = parseAuthenticate(challenge);
      if (scheme === "basic") {
        if (!creds) return res;
        state.scheme = "basic";
      } else if (scheme === "bearer" && params["realm"]) {
        let realm: URL;
        try {
          realm = new URL(params["realm"]);
        } catch {
          return res;
        }
        state.scheme = "bearer";
        state.bearer = {
          realm,
          ...(params["service"] !== undefined ? { service: params["service"] } : {}),
        };
        challengeScopes = (params["scope"] ?? "").split(" ");
        // A 401 despite a token means it lacks the scope or expired: forget it and ask again.
        state.tokens.delete(scopes.join(" "));
      } else {
        return res;
      }
      await res.body?.cancel();
    }
  }

  private async authorizationFor(
    registry: string,
    state: RegistryAuthState,
    creds: Credentials | undefined,
    scopes: readonly string[],
    operation: string,
  ): Promise<string | undefined> {
    if (state.scheme === "basic") return creds ? basicAuthorization(creds) : undefined;
    const bearer = state.bearer;
    if (state.scheme !== "bearer" || !bearer) return undefined;
    const key = scopes.join(" ");
    let pending = state.tokens.get(key);
    if (pending) {
      const cached = await pending.catch(() => undefined);
      if (cached && cached.expiresAt - TOKEN_EXPIRY_MARGIN_MS > this.now()) return `Bearer ${cached.token}`;
      if (state.tokens.get(key) === pending) state.tokens.delete(key);
    }
    // Concurrent requests with the same scopes (parallel blob downloads) share one token request.
    pending = state.tokens.get(key) ?? this.fetchToken(registry, bearer, scopes, creds, operation);
    state.tokens.set(key, pending);
    try {
      return `Bearer ${(await pending).token}`;
    } catch (err) {
      if (state.tokens.get(key) === pending) state.tokens.delete(key);
      throw err;
    }
  }

  /** The Docker token flow: `GET <realm>?service=…&scope=…` with basic credentials where allowed. */
  private async fetchToken(
    registry: string,
    challenge: BearerChallenge,
    scopes: readonly string[],
    creds: Credentials | undefined,
    operation: string,
  ): Promise<{ token: string; expiresAt: number }> {
    const url = new URL(challenge.realm);
    if (challenge.service !== undefined) url.searchParams.set("service", challenge.service);
    for (const s of scopes) url.searchParams.append("scope", s);
    let authorization: string | undefined;
    if (creds) {
      const realmHost = url.host;
      const secure =
        url.protocol === "https:" || (url.protocol === "http:" && allowsPlainHttp(realmHost, this.insecure));
      if (!secure) {
        throw new TsstackError(
          "registry/insecure-realm",
          `${operation}: ${registry} asks for credentials at ${url.origin}, which is plain HTTP and not a loopback or insecure-listed host; refusing to send them`,
        );
      }
      authorization = basicAuthorization(creds);
    }
    // The realm's origin is the one credentials may go to here; redirects away from it lose them.
    const res = await this.fetchFollowing(
      url,
      url.origin,
      { method: "GET", scopes, operation },
      authorization,
    );
    if (!res.ok) {
      const detail = await registryErrorText(res);
      const who = creds ? `user ${creds.username}` : "anonymous access";
      throw new TsstackError(
        res.status === 401 || res.status === 403 ? "registry/unauthorized" : "registry/token",
        `${operation}: the token service of ${registry} (${url.origin}) refused ${who}: ${res.status} ${res.statusText}${detail ? `: ${detail}` : ""}${creds ? "" : ` (run \`tsstack login ${registry}\`)`}`,
      );
    }
    const body = (await res.json()) as {
      token?: unknown;
      access_token?: unknown;
      expires_in?: unknown;
      issued_at?: unknown;
    };
    const token = typeof body.token === "string" && body.token !== "" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") {
      throw new TsstackError(
        "registry/token",
        `${operation}: the token service of ${registry} answered without a token`,
      );
    }
    // The distribution spec: tokens without expires_in live 60 s.
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    return { token, expiresAt: this.now() + lifetime * 1000 };
  }

  /**
   * fetch with `redirect: "manual"`: follows up to maxRedirects hops itself so it can drop
   * `Authorization` the moment a hop leaves `trustedOrigin`. 303 turns into GET, as browsers do.
   */
  private async fetchFollowing(
    url: URL,
    trustedOrigin: string,
    opts: RequestOptions,
    authorization: string | undefined,
  ): Promise<Response> {
    let current = url;
    let method: string = opts.method;
    let withBody = opts.body !== undefined;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { "user-agent": this.userAgent, ...opts.headers };
      if (authorization && current.origin === trustedOrigin) headers["authorization"] = authorization;
      if (!withBody) delete headers["content-length"];
      if (!withBody && (method === "POST" || method === "PUT")) headers["content-length"] = "0";
      let res: Response;
      try {
        res = await this.fetchImpl(current, {
          method,
          headers,
          redirect: "manual",
          ...(withBody && opts.body ? { body: opts.body(), duplex: "half" } : {}),
        });
      } catch (err) {
        const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
        const why = cause instanceof Error ? cause.message : String(cause);
        const hint =
          current.protocol === "https:" && /EPROTO|wrong version number|SSL/i.test(why)
            ? " (a plain-HTTP registry? list it in insecureRegistries)"
            : "";
        throw new TsstackError(
          "registry/unreachable",
          `${opts.operation}: ${method} ${current.href} failed: ${why}${hint}`,
          {
            cause: err,
          },
        );
      }
      const location = res.headers.get("location");
      const isRedirect = [301, 302, 303, 307, 308].includes(res.status) && location !== null;
      if (!isRedirect) {
        // Response.url is empty for responses built by hand (tests); record where it came from.
        if (!res.url) Object.defineProperty(res, "url", { value: current.href });
        return res;
      }
      if (hop >= this.maxRedirects) {
        await res.body?.cancel();
        throw new TsstackError(
          "registry/redirects",
          `${opts.operation}: more than ${this.maxRedirects} redirects from ${url.href}`,
        );
      }
      await res.body?.cancel();
      const next = new URL(location, current);
      if (next.protocol !== "https:" && next.protocol !== "http:") {
        throw new TsstackError(
          "registry/redirects",
          `${opts.operation}: refusing a redirect to ${next.protocol} URL`,
        );
      }
      if (
        current.protocol === "https:" &&
        next.protocol === "http:" &&
        !allowsPlainHttp(next.host, this.insecure)
      ) {
        throw new TsstackError(
          "registry/redirects",
          `${opts.operation}: refusing a redirect from HTTPS to plain HTTP (${next.origin})`,
        );
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = "GET";
        withBody = false;
      }
      current = next;
    }
  }

  private async httpError(registry: string, opts: RequestOptions, res: Response): Promise<TsstackError> {
    const detail = await registryErrorText(res);
    const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    const answered = new URL(res.url);
    const what =
      answered.origin === this.baseUrl(registry).origin
        ? `${opts.operation}: registry ${registry} answered ${status} for ${opts.method} ${answered.pathname}`
        : `${opts.operation}: ${answered.origin}, where ${registry} redirected ${opts.method} to, answered ${status}`;
    const suffix = detail ? `: ${detail}` : "";
    if (res.status === 401) {
      const creds = await this.options.credentials?.get(registry);
      const hint = creds
        ? ` (the credentials of ${creds.username} were refused or lack access)`
        : ` (no credentials for ${registry}: run \`tsstack login ${registry}\`)`;
      return new TsstackError("registry/unauthorized", `${what}${suffix}${hint}`);
    }
    if (res.status === 403) return new TsstackError("registry/denied", `${what}${suffix}`);
    if (res.status === 404) return new TsstackError("registry/not-found", `${what}${suffix}`);
    return new TsstackError("registry/http", `${what}${suffix}`);
  }
}

/** `pull x: fetch manifest …`: what the caller was doing, then the step that failed. */
function within(context: string | undefined, step: string): string {
  return context ? `${context}: ${step}` : step;
}

/** Reads a response body into memory, refusing more than `limit` bytes. */
async function readLimited(res: Response, limit: number, operation: string): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of Readable.fromWeb(res.body as WebReadableStream<Uint8Array>)) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > limit)
      throw new TsstackError("registry/manifest-too-large", `${operation}: manifest exceeds ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** The media type a manifest declares in its JSON, else the Content-Type, else OCI manifest. */
function manifestMediaType(contentType: string, bytes: Buffer): string {
  try {
    const parsed = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown; manifests?: unknown };
    if (typeof parsed.mediaType === "string" && parsed.mediaType !== "") return parsed.mediaType;
    // OCI allows omitting mediaType: tell an index from a manifest by its shape.
    if (contentType === "" || contentType === "application/json" || contentType === "text/plain") {
      return Array.isArray(parsed.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
    }
  } catch {
    // Not JSON: the caller's parse reports it with context.
  }
  return contentType;
}
