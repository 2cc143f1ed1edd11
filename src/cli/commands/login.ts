/**
 * `tsstack login` / `tsstack logout`, like `docker login` / `docker logout`: credentials are checked
 * against the registry, then kept in the user's auth file (see registry/credentials.ts).
 */
import type { Readable } from "node:stream";
import type { Command } from "commander";
import { TsstackError } from "../../common/errors.js";
import { normalizeRegistryHost } from "../../runtime/images/registry/client.js";
import {
  CredentialStore,
  defaultAuthFilePath,
  login,
  logout,
} from "../../runtime/images/registry/credentials.js";
import { registryOptions } from "./image.js";
import type { CliIo } from "../io.js";
import { UsageError } from "./config.js";

interface LoginFlags {
  username?: string;
  password?: string;
  passwordStdin?: boolean;
}

export function loginCommands(program: Command, io: CliIo): void {
  program
    .command("login")
    .description("log in to a registry (default: Docker Hub)")
    .argument("[server]", "registry host[:port]", "docker.io")
    .option("-u, --username <username>", "username")
    .option(
      "-p, --password <password>",
      "password (insecure: visible in the process list; prefer --password-stdin)",
    )
    .option("--password-stdin", "read the password from standard input")
    .action(async (server: string, flags: LoginFlags) => {
      if (flags.password !== undefined && flags.passwordStdin === true) {
        throw new UsageError("--password and --password-stdin are mutually exclusive");
      }
      if (flags.passwordStdin === true && flags.username === undefined) {
        throw new UsageError("Must provide --username with --password-stdin");
      }
      if (flags.password !== undefined) {
        io.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
      }
      const registry = normalizeRegistryHost(server);
      const username = flags.username ?? (await prompt(io, "Username: ", false));
      let password = flags.password;
      if (flags.passwordStdin === true) {
        if (io.stdin === undefined) throw new UsageError("--password-stdin: no standard input");
        // docker: all of stdin, without the final line break.
        password = (await readAll(io.stdin)).replace(/\r?\n$/, "");
      }
      password ??= await prompt(io, "Password: ", true);
      if (username === "") throw new UsageError("username is empty");
      if (password === "") throw new UsageError("password is empty");
      const store = new CredentialStore(defaultAuthFilePath(io.env));
      await login(registry, { username, password }, { store, client: registryOptions(io) });
      io.stdout.write("Login Succeeded\n");
    });

  program
    .command("logout")
    .description("forget the credentials of a registry (default: Docker Hub)")
    .argument("[server]", "registry host[:port]", "docker.io")
    .action(async (server: string) => {
      const registry = normalizeRegistryHost(server);
      const removed = await logout(registry, { store: new CredentialStore(defaultAuthFilePath(io.env)) });
      io.stdout.write(
        removed ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`,
      );
    });
}

/** Asks on the terminal; only when stdin is one (scripts must pass -u / --password-stdin). */
async function prompt(io: CliIo, question: string, secret: boolean): Promise<string> {
  const stdin = io.stdin;
  if (stdin?.isTTY !== true) {
    throw new UsageError(
      `${secret ? "password" : "username"} required (not prompting: standard input is not a terminal)`,
    );
  }
  io.stdout.write(question);
  const tty = stdin as Readable & { setRawMode?: (raw: boolean) => unknown };
  if (!secret || tty.setRawMode === undefined) return (await readLine(stdin)) ?? "";
  // No echo for passwords: raw mode, and we handle Enter, Backspace and Ctrl-C ourselves.
  tty.setRawMode(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = "";
      const onData = (chunk: Buffer | string): void => {
        for (const ch of chunk.toString()) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            stdin.pause();
            io.stdout.write("\n");
            resolve(typed);
            return;
          }
          if (ch === "\u0003") {
            stdin.off("data", onData);
            stdin.pause();
            reject(new TsstackError("cli/interrupted", "login interrupted"));
            return;
          }
          typed = ch === "\u007f" || ch === "\b" ? typed.slice(0, -1) : typed + ch;
        }
      };
      stdin.on("data", onData);
      stdin.resume();
    });
  } finally {
    tty.setRawMode(false);
  }
}

/** One line of input without its line break; undefined at end of input with nothing read. */
export function readLine(stdin: Readable): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let text = "";
    const done = (): void => {
      stdin.off("data", onData);
      stdin.off("end", onEnd);
      stdin.off("error", onError);
      stdin.pause();
    };
    const onData = (chunk: Buffer | string): void => {
      text += chunk.toString();
      const nl = text.indexOf("\n");
      if (nl === -1) return;
      done();
      // What came after the line belongs to whoever reads next.
      const rest = text.slice(nl + 1);
      if (rest !== "") stdin.unshift(Buffer.from(rest));
      resolve(text.slice(0, nl).replace(/\r$/, ""));
    };
    const onEnd = (): void => {
      done();
      resolve(text === "" ? undefined : text);
    };
    const onError = (e: unknown): void => {
      done();
      reject(e instanceof Error ? e : new Error(String(e)));
    };
    stdin.on("data", onData);
    stdin.once("end", onEnd);
    stdin.once("error", onError);
    stdin.resume();
  });
}

async function readAll(stdin: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of stdin) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(parts).toString("utf8");
}
