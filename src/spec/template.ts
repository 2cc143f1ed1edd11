/**
 * Compose-spec variable substitution in one string: `$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alternative}`, `${VAR+alternative}`,
 * nesting inside the operand, and `$$` for a literal `$`.
 *
 * This is a port of compose-go's `template` package (v2.13) rather than a grammar of our own, because
 * users' files rely on its exact edge cases: what counts as invalid, which `}` closes a nested
 * reference, that operands are only evaluated when used (so an unused default never warns), and the
 * error messages people search for.
 */
import { TsstackError } from "../common/errors.js";

/** A lookup result of `undefined` means "unset", which is different from set to "". */
export type Lookup = (name: string) => string | undefined;

/** A template that is malformed (`interpolate/invalid`) or names a required variable that is missing (`interpolate/required`). */
export class TemplateError extends TsstackError {
  override readonly name = "TemplateError";
  constructor(
    code: "interpolate/invalid" | "interpolate/required",
    message: string,
    /** The template the problem was found in (for nested operands, the operand). */
    readonly template: string,
    /** For `interpolate/required`: the variable that has no value. */
    readonly variable?: string,
  ) {
    super(code, message);
  }
}

// compose-go matches names with `(?i:[_a-z][_a-z0-9]*)`; Go's case folding also lets U+017F (ſ, folds
// to s) and U+212A (Kelvin sign, folds to k) through, so they are listed to accept the same names.
const NAME_FIRST = "_a-zA-Z\\u017F\\u212A";
const NAME_REST = "_a-zA-Z0-9\\u017F\\u212A";
/**
 * compose-go's pattern. The braced operand is greedy up to the last `}` of the line; the replacement
 * then cuts it at the balancing brace and substitutes what follows separately. Go's `.` stops only
 * at `\n`, hence `[^\n]`. The empty last alternative turns a `${` that starts no valid reference into
 * a match, which is then reported as invalid.
 */
const SOURCE = `\\$(?:(\\$)|([${NAME_FIRST}][${NAME_REST}]*)|\\{(?:([${NAME_FIRST}][${NAME_REST}]*(?::?[-+?][^\\n]*)?)\\}|()))`;
const PATTERN = new RegExp(SOURCE, "g");
const ANCHORED = new RegExp(`^${SOURCE}`);
const NAME = new RegExp(`^[${NAME_FIRST}][${NAME_REST}]*`);

/** Internal failure; `template` is filled in by the innermost substitution that saw it. */
class Failure extends Error {
  constructor(
    readonly kind: "invalid" | "required",
    public template: string | undefined,
    readonly variable = "",
    readonly reason = "",
  ) {
    super(kind);
  }
}

interface Context {
  readonly lookup: Lookup;
  readonly onUnset: ((name: string) => void) | undefined;
}

/**
 * Substitutes every variable reference in `template`.
 *
 * @param lookup the variables; `undefined` means unset.
 * @param onUnset called for each reference to an unset variable that has no operator to fall back on
 *   (Compose warns "The "X" variable is not set. Defaulting to a blank string."). Operands that are not
 *   used are not evaluated, so they never report.
 * @throws TemplateError for the first malformed reference or missing required variable.
 */
export function substitute(template: string, lookup: Lookup, onUnset?: (name: string) => void): string {
  try {
    return substituteAll(template, { lookup, onUnset });
  } catch (e) {
    if (!(e instanceof Failure)) throw e;
    const where = e.template ?? template;
    if (e.kind === "invalid") {
      throw new TemplateError("interpolate/invalid", `Invalid template: ${goQuote(where)}`, where);
    }
    const message =
      e.reason === ""
        ? `required variable ${e.variable} is missing a value`
        : `required variable ${e.variable} is missing a value: ${e.reason}`;
    throw new TemplateError("interpolate/required", message, where, e.variable);
  }
}

/** compose-go's SubstituteWithOptions: every match is replaced, and the first failure wins. */
function substituteAll(template: string, ctx: Context): string {
  if (!template.includes("$")) return template;
  let first: Failure | undefined;
  const out = template.replace(PATTERN, (match: string) => {
    try {
      return replaceMatch(match, ctx);
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      e.template ??= template;
      first ??= e;
      return "";
    }
  });
  if (first !== undefined) throw first;
  return out;
}

function replaceMatch(matched: string, ctx: Context): string {
  const close = firstClosingBrace(matched);
  const head = close === -1 ? matched : matched.slice(0, close + 1);
  const rest = close === -1 ? "" : matched.slice(close + 1);
  const m = ANCHORED.exec(head);
  if (m === null) throw new Failure("invalid", undefined);
  const escaped = m[1] ?? "";
  if (escaped !== "") return escaped;
  const named = m[2] ?? "";
  const substitution = named !== "" ? named : (m[3] ?? "");
  if (substitution === "") throw new Failure("invalid", undefined);

  if (named === "") {
    const name = NAME.exec(substitution)?.[0] ?? substitution;
    const operation = substitution.slice(name.length);
    if (operation !== "") {
      const value = applyOperator(name, operation, ctx);
      return value + substituteAll(rest, ctx);
    }
  }
  const value = ctx.lookup(substitution);
  if (value === undefined) {
    ctx.onUnset?.(substitution);
    return "";
  }
  return value;
}

/** `operation` is what follows the name inside the braces, e.g. `:-default`. */
function applyOperator(name: string, operation: string, ctx: Context): string {
  const op = operation.startsWith(":") ? operation.slice(0, 2) : operation.slice(0, 1);
  const operand = operation.slice(op.length);
  const value = ctx.lookup(name);
  switch (op) {
    case ":-":
      return value === undefined || value === "" ? substituteAll(operand, ctx) : value;
    case "-":
      return value ?? substituteAll(operand, ctx);
    case ":+":
      return value !== undefined && value !== "" ? substituteAll(operand, ctx) : "";
    case "+":
      return value !== undefined ? substituteAll(operand, ctx) : "";
    case ":?":
    case "?":
      if (value === undefined || (op === ":?" && value === "")) {
        throw new Failure("required", undefined, name, substituteAll(operand, ctx));
      }
      return value;
    default:
      throw new Failure("invalid", undefined);
  }
}

/**
 * compose-go's getFirstBraceClosingIndex, quirks included: every `{` opens a level and the character
 * after it is skipped, so `${A:-{"json":1}}` closes at its last brace.
 */
function firstClosingBrace(s: string): number {
  let open = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "}") {
      open--;
      if (open === 0) return i;
    }
    if (c === "{") {
      open++;
      i++;
    }
  }
  return -1;
}

/** Go's `%q`/`%#v` rendering of a string, so messages read like Compose's. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        break;
      case "\\":
        out += "\\\\";
        break;
      case "\x07":
        out += "\\a";
        break;
      case "\b":
        out += "\\b";
        break;
      case "\f":
        out += "\\f";
        break;
      case "\n":
        out += "\\n";
        break;
      case "\r":
        out += "\\r";
        break;
      case "\t":
        out += "\\t";
        break;
      case "\v":
        out += "\\v";
        break;
      default:
        if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
        else if (cp >= 0x80 && cp < 0xa0) out += `\\u${cp.toString(16).padStart(4, "0")}`;
        else out += ch;
    }
  }
  return out + '"';
}
