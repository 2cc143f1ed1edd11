/**
 * A Docker-style token server on loopback for the bearer-auth registry tests: `GET /token?service=…&
 * scope=repository:<name>:<actions>` with optional HTTP basic credentials answers a JWT signed RS256
 * with a throwaway key. The real registry verifies it: it trusts the self-signed certificate (made with
 * the `openssl` CLI, since node:crypto cannot issue X.509 certificates) through `rootcertbundle`, and
 * finds the signing certificate in the token's `x5c` header.
 */
import { execFile } from "node:child_process";
import { X509Certificate, createPrivateKey, randomUUID, sign, type KeyObject } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

export interface TokenServerOptions {
  /** username → password. Requests with other credentials get 401 (as Docker Hub's auth service). */
  readonly users?: Readonly<Record<string, string>>;
  /** Actions granted to `account` (undefined: anonymous) on `repository`; requested ∩ granted is issued. */
  readonly grant: (account: string | undefined, repository: string) => readonly string[];
  /** Default `tsstack-test-registry`. */
  readonly service?: string;
  /** Default `tsstack-test-token-issuer`. */
  readonly issuer?: string;
  /** Token lifetime in seconds. Default 300. */
  readonly expiresIn?: number;
}

export interface TokenRequestRecord {
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  /** The account the request authenticated as (undefined: anonymous or refused). */
  readonly account: string | undefined;
  readonly status: number;
}

export interface TokenServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/token` */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM of the signing certificate: the registry's `rootcertbundle`. */
  readonly certPath: string;
  /** Every token request so far, oldest first. */
  readonly requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  // repository:<name>:<actions>; a name has no ":" but a registry-qualified one might, so split at the ends.
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(",")
      .filter(Boolean),
  };
}

function signJwt(key: KeyObject, certDer: string, claims: object): string {
  const header = { typ: "JWT", alg: "RS256", x5c: [certDer] };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${base64url(sign("sha256", Buffer.from(input), key))}`;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const service = opts.service ?? "tsstack-test-registry";
  const issuer = opts.issuer ?? "tsstack-test-token-issuer";
  const dir = await mkdtemp(join(tmpdir(), "tsstack-token-"));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  let server: Server | undefined;
  try {
    await execFileP("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyPath,
      "-out",
      certPath,
      "-days",
      "2",
      "-subj",
      "/CN=tsstack-test-token-issuer",
    ]);
    const key = createPrivateKey(await readFile(keyPath));
    const certDer = new X509Certificate(await readFile(certPath)).raw.toString("base64");
    const requests: TokenRequestRecord[] = [];

    const srv = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const answer = (status: number, body: object, account?: string): void => {
        requests.push({ url, headers: req.headers, account, status });
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (url.pathname !== "/token") {
        answer(404, { error: "not found" });
        return;
      }
      let account: string | undefined;
      const authorization = req.headers.authorization;
      if (authorization !== undefined) {
        const m = /^Basic (.+)$/i.exec(authorization);
        const decoded = m ? Buffer.from(m[1] ?? "", "base64").toString("utf8") : "";
        const colon = decoded.indexOf(":");
        const user = decoded.slice(0, colon);
        if (colon <= 0 || opts.users?.[user] !== decoded.slice(colon + 1)) {
          answer(401, { details: "incorrect username or password" });
          return;
        }
        account = user;
      }
      const access = url.searchParams
        .getAll("scope")
        .flatMap((s) => s.split(" "))
        .map(parseScope)
        .filter((s): s is NonNullable<typeof s> => s?.type === "repository")
        .map((s) => {
          const granted = new Set(opts.grant(account, s.name));
          return { type: "repository", name: s.name, actions: s.actions.filter((a) => granted.has(a)) };
        });
      const now = Math.floor(Date.now() / 1000);
      const expiresIn = opts.expiresIn ?? 300;
      const token = signJwt(key, certDer, {
        iss: issuer,
        sub: account ?? "",
        aud: url.searchParams.get("service") ?? service,
        exp: now + expiresIn,
        nbf: now - 10,
        iat: now,
        jti: randomUUID(),
        access,
      });
      answer(
        200,
        { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() },
        account,
      );
    });
    server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(0, "127.0.0.1", resolve);
    });
    const port = (srv.address() as AddressInfo).port;
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      srv.closeAllConnections();
      await new Promise<void>((resolve) => {
        srv.close(() => {
          resolve();
        });
      });
      await rm(dir, { recursive: true, force: true });
    };
    return {
      realm: `http://127.0.0.1:${port}/token`,
      service,
      issuer,
      certPath,
      requests,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    server?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
