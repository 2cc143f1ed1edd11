/**
 * `.env` files as Compose reads them (compose-go's `dotenv` package, v2.13): `KEY=value`, `KEY: value`,
 * `export KEY=value`, `#` comments, single quotes (literal), double quotes (escapes and substitution),
 * multi-line quoted values, unquoted values (substitution, inline ` #` comments), a bare `KEY` that
 * inherits from the environment, and a leading UTF-8 BOM.
 *
 * The scanner is a port of compose-go's rather than a line-based grammar because its quirks are
 * observable: a statement may follow a closing quote on the same line, `#` starts an inline comment
 * only after a space, and `FOO=a\tb` keeps its backslash.
 */
import { TsstackError } from "../common/errors.js";
import { goQuote, substitute, TemplateError, type Lookup } from "./template.js";

/** An `.env` file could not be read. The message starts with `file:line` (or `line N` without a file). */
export class DotenvError extends TsstackError {
  override readonly name = "DotenvError";
  constructor(
    /** What is wrong, without the location. */
    readonly problem: string,
    /** 1-based line of the statement at fault. */
    readonly line: number,
    readonly file?: string,
    options?: { cause?: unknown },
  ) {
    super(
      "dotenv/invalid",
      `${file === undefined ? `line ${line}` : `${file}:${line}`}: ${problem}`,
      options,
    );
  }
}

/** Where an unset variable was referenced, for warnings. */
export interface DotenvSite {
  readonly file?: string | undefined;
  readonly line: number;
}

export type DotenvUnsetHandler = (name: string, site: DotenvSite) => void;

/**
 * Parses one `.env` file. Keys come out in file order; a key defined twice keeps the later value.
 *
 * Substitution in a value (`${X}`, `$X`) resolves `lookup` first and then the keys defined earlier in
 * the same file, which is compose-go's order: the environment outranks the file. A bare `KEY` line takes
 * `lookup(KEY)` and is left out when that is unset.
 *
 * @param file named in error messages.
 * @param onUnset called for each reference to a variable that neither `lookup` nor the file defines.
 * @throws DotenvError on the first syntax error or failed substitution.
 */
export function parseDotenv(
  text: string,
  lookup: Lookup,
  file?: string,
  onUnset?: DotenvUnsetHandler,
): Map<string, string> {
  const src = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const out = new Map<string, string>();
  new Scanner(src, lookup, out, file, onUnset).run();
  return out;
}

/**
 * Reads several `.env` files in order, as Compose does for `--env-file` and `env_file:`. Later files
 * override earlier ones, and a file's substitutions (and bare `KEY` lines) see `lookup` first, then the
 * values of the files before it.
 */
export function readEnvFiles(
  paths: readonly string[],
  lookup: Lookup,
  readFile: (path: string) => string,
  onUnset?: DotenvUnsetHandler,
): Map<string, string> {
  const env = new Map<string, string>();
  for (const path of paths) {
    const vars = parseDotenv(readFile(path), (name) => lookup(name) ?? env.get(name), path, onUnset);
    for (const [k, v] of vars) env.set(k, v);
  }
  return env;
}

const EXPORT = /export[\t\n\f\r ]+/y;
/** Go's `\(?:[abcfnrtv$"\\]|0\d{0,3})`: the escapes a double-quoted value understands. */
const ESCAPE = /\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})/g;
const KEY_RUNE = /^[\p{L}\p{N}_.\-[\]]$/u;

/** Go's `unicode.IsSpace`. */
function isUnicodeSpace(c: string): boolean {
  return /^[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]$/.test(c);
}

/** compose-go's `isSpace`: blanks that do not end a line. */
function isBlank(c: string | undefined): boolean {
  return c !== undefined && /^[\t\v\f\r \u0085\u00A0]$/.test(c);
}

function trimEndUnicodeSpace(s: string): string {
  let end = s.length;
  while (end > 0 && isUnicodeSpace(s.charAt(end - 1))) end--;
  return s.slice(0, end);
}

class Scanner {
  #pos = 0;
  #line = 1;
  /** Line of the statement being read, for messages. */
  #statementLine = 1;

  constructor(
    private readonly src: string,
    private readonly lookup: Lookup,
    private readonly out: Map<string, string>,
    private readonly file: string | undefined,
    private readonly onUnset: DotenvUnsetHandler | undefined,
  ) {}

  run(): void {
    while (this.#toStatementStart()) {
      this.#statementLine = this.#line;
      const { key, inherited } = this.#readKey();
      if (key.includes(" ")) throw this.#error("key cannot contain a space");
      if (inherited) {
        const value = this.lookup(key);
        if (value !== undefined) this.out.set(key, value);
        continue;
      }
      const value = this.#readValue();
      this.out.set(key, value);
    }
  }

  /** Skips blank space and comment lines; false at the end of the input. */
  #toStatementStart(): boolean {
    const src = this.src;
    for (;;) {
      while (this.#pos < src.length && isUnicodeSpace(src.charAt(this.#pos))) {
        if (src[this.#pos] === "\n") this.#line++;
        this.#pos++;
      }
      if (this.#pos >= src.length) return false;
      if (src[this.#pos] !== "#") return true;
      const eol = src.indexOf("\n", this.#pos);
      if (eol === -1) return false;
      this.#pos = eol;
    }
  }

  #readKey(): { key: string; inherited: boolean } {
    const src = this.src;
    EXPORT.lastIndex = this.#pos;
    if (EXPORT.test(src)) {
      this.#pos += "export".length;
      while (isBlank(src[this.#pos])) this.#pos++;
    }
    const start = this.#pos;
    let i = start;
    for (;;) {
      const cp = src.codePointAt(i);
      if (cp === undefined) {
        // compose-go reads a bare key on the last line, with no newline after it, as the *value* of an
        // empty key (`"" = "KEY"`); treat it like the same line followed by a newline instead.
        this.#pos = i;
        return { key: trimEndUnicodeSpace(src.slice(start, i)), inherited: true };
      }
      const c = String.fromCodePoint(cp);
      if (c === "=" || c === ":" || c === "\n") {
        const key = trimEndUnicodeSpace(src.slice(start, i));
        this.#pos = i + 1;
        const inherited = c === "\n";
        if (inherited && !key.includes(" ")) this.#line++;
        while (isBlank(src[this.#pos])) this.#pos++;
        return { key, inherited };
      }
      if (!isBlank(c) && !KEY_RUNE.test(c)) {
        const firstLine = src.slice(start).split("\n")[0] ?? "";
        throw this.#error(`unexpected character ${goQuote(c)} in variable name ${goQuote(firstLine)}`);
      }
      i += c.length;
    }
  }

  #readValue(): string {
    const src = this.src;
    const quote = src[this.#pos];
    if (quote !== '"' && quote !== "'") {
      const eol = src.indexOf("\n", this.#pos);
      const end = eol === -1 ? src.length : eol;
      let raw = src.slice(this.#pos, end);
      this.#pos = eol === -1 ? src.length : eol + 1;
      this.#line++;
      const comment = raw.indexOf(" #");
      if (comment !== -1) raw = raw.slice(0, comment);
      return this.#expand(trimEndUnicodeSpace(raw));
    }
    // An escaped quote loses its backslash; any other escaped character keeps it (for double quotes,
    // `#unescape` deals with it next).
    let value = "";
    let escaped = false;
    for (let i = this.#pos + 1; i < src.length; i++) {
      const c = src.charAt(i);
      if (c === "\n") this.#line++;
      if (escaped) {
        escaped = false;
        value += c === quote ? c : `\\${c}`;
      } else if (c === "\\") {
        escaped = true;
      } else if (c === quote) {
        this.#pos = i + 1;
        return quote === '"' ? this.#expand(unescape(value)) : value;
      } else {
        value += c;
      }
    }
    // Reported at the opening quote; compose-go names the file's last line instead.
    const firstLine = src.slice(this.#pos).split("\n")[0] ?? "";
    throw this.#error(`unterminated quoted value ${firstLine}`);
  }

  #expand(value: string): string {
    const site: DotenvSite = { file: this.file, line: this.#statementLine };
    const onUnset = this.onUnset;
    try {
      return substitute(
        value,
        (name) => this.lookup(name) ?? this.out.get(name),
        onUnset === undefined
          ? undefined
          : (name) => {
              onUnset(name, site);
            },
      );
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      throw this.#error(`expanding variables: ${e.message}`, e);
    }
  }

  #error(problem: string, cause?: unknown): DotenvError {
    return new DotenvError(
      problem,
      this.#statementLine,
      this.file,
      cause === undefined ? undefined : { cause },
    );
  }
}

/**
 * Double-quoted escapes, as compose-go's `expandEscapes`: the shell's `\a \b \f \n \r \t \v \\ \"`, `\0`
 * plus three octal digits, and `\$`, which becomes `$$` so that substitution leaves a literal `$`.
 * Anything else, including `\x..` and `\u....`, stays as written.
 */
function unescape(s: string): string {
  return s.replace(ESCAPE, (match) => {
    if (match === "\\$") return "$$";
    // Go's octal escapes have no leading 0: `\0123` is read as `\123`. When that is not a valid
    // escape, compose-go returns the rewritten text, so `\0` alone becomes a lone backslash.
    const text = match.startsWith("\\0") ? `\\${match.slice(2)}` : match;
    return unquoteChar(text) ?? text;
  });
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  '"': '"',
};

/** Go's `strconv.UnquoteChar(s, '"')` for one whole escape; undefined where Go reports an error. */
function unquoteChar(s: string): string | undefined {
  const body = s.slice(1);
  if (body.length === 1) return SIMPLE_ESCAPES[body];
  if (/^[0-7]{3}$/.test(body)) {
    const code = Number.parseInt(body, 8);
    return code > 255 ? undefined : String.fromCharCode(code);
  }
  return undefined;
}
