/**
 * Registry credentials for `tsstack login` / `logout`, kept in a JSON file readable by its owner only.
 *
 * Location: `$TSSTACK_AUTH_FILE`, else `$XDG_CONFIG_HOME/tsstack/auth.json`, else
 * `$HOME/.config/tsstack/auth.json`. Credentials belong to the user who logged in (as with Docker's
 * `~/.docker/config.json` and podman's `auth.json`), not to an engine root that several users' stacks
 * share; the CLI hands them to the engine per pull/push.
 *
 * Format: `{"auths": {"<host[:port]>": {"auth": "<base64 user:password>"}}}`, the `auths` section of
 * Docker's config.json and podman's auth.json, so `skopeo --authfile` and `podman --authfile` read it
 * too. Keys are exact registry hosts (`docker.io` for Docker Hub): credentials stored for one host:port
 * are never offered to another.
 *
 * Writes are atomic (temp file created 0600 in the same directory, chmod'ed and fsync'ed, then renamed
 * over the old file), so a crash leaves either the old or the new file, never a torn or world-readable
 * one. Concurrent writers in one process are serialized; across processes the last rename wins.
 */
import { mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../../../common/atomic.js";
import { TsstackError } from "../../../common/errors.js";
import {
  RegistryClient,
  normalizeRegistryHost,
  type CredentialSource,
  type Credentials,
  type RegistryClientOptions,
} from "./client.js";

interface AuthFile {
  auths?: Record<string, { auth?: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

/** `$TSSTACK_AUTH_FILE`, else `$XDG_CONFIG_HOME/tsstack/auth.json`, else `~/.config/tsstack/auth.json`. */
export function defaultAuthFilePath(env: NodeJS.ProcessEnv = process.env): string {
  // Empty values count as unset, as the XDG spec says.
  const set = (name: string): string | undefined => (env[name] === "" ? undefined : env[name]);
  const explicit = set("TSSTACK_AUTH_FILE");
  if (explicit !== undefined) return explicit;
  const config = set("XDG_CONFIG_HOME") ?? join(set("HOME") ?? homedir(), ".config");
  return join(config, "tsstack", "auth.json");
}

export class CredentialStore implements CredentialSource {
  /** Serializes this process's read-modify-write cycles. */
  private queue: Promise<unknown> = Promise.resolve();

  /** @param path The auth file. Default: {@link defaultAuthFilePath}. */
  constructor(readonly path: string = defaultAuthFilePath()) {}

  async get(registry: string): Promise<Credentials | undefined> {
    const file = await this.read();
    const entry = file.auths?.[normalizeRegistryHost(registry)];
    if (typeof entry?.auth !== "string" || entry.auth === "") return undefined;
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) {
      throw new TsstackError(
        "registry/credentials",
        `reading credentials for ${registry} from ${this.path}: the "auth" value is not base64 of user:password`,
      );
    }
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }

  /** Registries that have credentials stored. */
  async registries(): Promise<string[]> {
    return Object.keys((await this.read()).auths ?? {}).sort();
  }

  async set(registry: string, credentials: Credentials): Promise<void> {
    if (credentials.username.includes(":")) {
      throw new TsstackError(
        "registry/credentials",
        `storing credentials for ${registry}: a username may not contain ":"`,
      );
    }
    const auth = Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64");
    await this.update((file) => {
      const auths = { ...(file.auths ?? {}) };
      auths[normalizeRegistryHost(registry)] = { auth };
      return { ...file, auths };
    });
  }

  /** Forgets a registry's credentials; false when there were none. */
  async remove(registry: string): Promise<boolean> {
    let removed = false;
    await this.update((file) => {
      const key = normalizeRegistryHost(registry);
      if (!file.auths || !(key in file.auths)) return undefined;
      removed = true;
      const auths = Object.fromEntries(Object.entries(file.auths).filter(([k]) => k !== key));
      return { ...file, auths };
    });
    return removed;
  }

  private async read(): Promise<AuthFile> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new TsstackError(
        "registry/credentials",
        `reading credentials file ${this.path}: ${String(err)}`,
        {
          cause: err,
        },
      );
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
        throw new Error("not an object");
      return parsed as AuthFile;
    } catch (err) {
      throw new TsstackError(
        "registry/credentials",
        `reading credentials file ${this.path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`,
        { cause: err },
      );
    }
  }

  /** Read-modify-write; `change` returns undefined for "nothing to write". */
  private update(change: (file: AuthFile) => AuthFile | undefined): Promise<void> {
    const run = this.queue.then(async () => {
      const next = change(await this.read());
      if (next) await writeCredentialsFile(this.path, `${JSON.stringify(next, null, 2)}\n`);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * Writes `path` as owner-only (0600) atomically (`writeFileAtomic`: temp file created 0600 in the same
 * directory and chmod'ed before anything is written, so the umask never widens it and an existing laxer
 * file is replaced, not reused; fsync of the file and then of the directory).
 */
async function writeCredentialsFile(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFileAtomic(path, content, 0o600, { exactMode: true });
  } catch (err) {
    throw new TsstackError("registry/credentials", `writing credentials file ${path}: ${String(err)}`, {
      cause: err,
    });
  }
}

export interface LoginOptions {
  readonly store: CredentialStore;
  /** The client (or its options) used to check the credentials. Default: a new client with defaults. */
  readonly client?: RegistryClient | RegistryClientOptions;
}

/**
 * `tsstack login`: checks the credentials against the registry's `/v2/` (through its token service for
 * bearer registries) and stores them only when accepted. Throws `registry/unauthorized` otherwise.
 */
export async function login(registry: string, credentials: Credentials, opts: LoginOptions): Promise<void> {
  const client = opts.client instanceof RegistryClient ? opts.client : new RegistryClient(opts.client ?? {});
  await client.ping(registry, credentials);
  await opts.store.set(registry, credentials);
}

/** `tsstack logout`: false when no credentials were stored for the registry. */
export function logout(registry: string, opts: { readonly store: CredentialStore }): Promise<boolean> {
  return opts.store.remove(registry);
}
