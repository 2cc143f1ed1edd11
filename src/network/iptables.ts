/**
 * tsstack's iptables rules. Every rule lives in chains the engine owns — `<chainPrefix>-POSTROUTING`
 * and `<chainPrefix>-DNAT` (nat), `<chainPrefix>-FORWARD` (filter) — jumped to once from the built-in
 * chains, and carries a comment `tsstack:<tag>` (a network id, or `<network id>:<container id12>` for
 * published ports), so rules are found and removed by tag without tracking handles.
 *
 * Changes go through `iptables-restore --noflush`: one process per change (cheaper than one `iptables`
 * per rule) and all rules of a table committed together. Deletions are derived from `iptables-save`
 * output, so they match the kernel's canonical form whatever form the rule was added in.
 */
import { TsstackError } from "../common/errors.js";
import { run, type CommandRunner } from "./exec.js";

export type Table = "nat" | "filter";

export interface Rule {
  readonly table: Table;
  readonly chain: string;
  /** Match and target, without the comment (added from the tag). */
  readonly spec: string;
  /** Insert at the top of the chain (`-I`) instead of appending. */
  readonly insert?: boolean;
}

interface SavedRule {
  readonly table: Table;
  readonly line: string;
  readonly chain: string;
  readonly comment: string | undefined;
}

const COMMENT_RE = /--comment "?([^"\s]+)"?/;

export class Iptables {
  readonly postrouting: string;
  readonly dnat: string;
  readonly forward: string;
  /** The comment of the jumps from the built-in chains. */
  readonly #jumpTag: string;

  constructor(
    readonly chainPrefix: string,
    readonly runner: CommandRunner,
  ) {
    this.postrouting = `${chainPrefix}-POSTROUTING`;
    this.dnat = `${chainPrefix}-DNAT`;
    this.forward = `${chainPrefix}-FORWARD`;
    this.#jumpTag = `tsstack:chains:${chainPrefix}`;
  }

  async #save(): Promise<{ chains: Set<string>; rules: SavedRule[] }> {
    const text = await run(this.runner, "reading the iptables rules", "iptables-save", []);
    const chains = new Set<string>();
    const rules: SavedRule[] = [];
    let table: string | undefined;
    for (const line of text.split("\n")) {
      if (line.startsWith("*")) table = line.slice(1).trim();
      else if (table !== "nat" && table !== "filter") continue;
      else if (line.startsWith(":")) chains.add(`${table}/${line.slice(1).split(" ")[0] ?? ""}`);
      else if (line.startsWith("-A ")) {
        const chain = line.split(" ")[1] ?? "";
        rules.push({ table, line, chain, comment: COMMENT_RE.exec(line)?.[1] });
      }
    }
    return { chains, rules };
  }

  async #restore(what: string, byTable: ReadonlyMap<Table, readonly string[]>): Promise<void> {
    let input = "";
    for (const [table, lines] of byTable)
      if (lines.length > 0) input += `*${table}\n${lines.join("\n")}\nCOMMIT\n`;
    if (input === "") return;
    await run(this.runner, what, "iptables-restore", ["-w", "--noflush"], input);
  }

  #ours(r: SavedRule): boolean {
    return (
      r.chain === this.postrouting ||
      r.chain === this.dnat ||
      r.chain === this.forward ||
      r.comment === this.#jumpTag
    );
  }

  /** Creates the chains and the jumps to them when missing (idempotent). */
  async ensureChains(): Promise<void> {
    const { chains, rules } = await this.#save();
    const nat: string[] = [];
    const filter: string[] = [];
    const jumps = new Set(
      rules.filter((r) => r.comment === this.#jumpTag).map((r) => `${r.table}/${r.chain}`),
    );
    const tag = `-m comment --comment "${this.#jumpTag}"`;
    if (!chains.has(`nat/${this.postrouting}`)) nat.push(`:${this.postrouting} - [0:0]`);
    if (!chains.has(`nat/${this.dnat}`)) nat.push(`:${this.dnat} - [0:0]`);
    if (!chains.has(`filter/${this.forward}`)) filter.push(`:${this.forward} - [0:0]`);
    if (!jumps.has("nat/POSTROUTING")) nat.push(`-A POSTROUTING ${tag} -j ${this.postrouting}`);
    if (!jumps.has("nat/PREROUTING"))
      nat.push(`-A PREROUTING -m addrtype --dst-type LOCAL ${tag} -j ${this.dnat}`);
    if (!jumps.has("nat/OUTPUT")) nat.push(`-A OUTPUT -m addrtype --dst-type LOCAL ${tag} -j ${this.dnat}`);
    // First in FORWARD: ahead of a DROP policy or of other managers' rules (Docker's own, say).
    if (!jumps.has("filter/FORWARD")) filter.push(`-I FORWARD 1 ${tag} -j ${this.forward}`);
    await this.#restore(
      `creating the iptables chains ${this.chainPrefix}-*`,
      new Map<Table, string[]>([
        ["nat", nat],
        ["filter", filter],
      ]),
    );
  }

  /** Adds `rules` tagged `tsstack:<tag>`; on failure, removes whatever of them was committed. */
  async add(tag: string, rules: readonly Rule[], what: string): Promise<void> {
    if (rules.length === 0) return;
    const byTable = new Map<Table, string[]>();
    for (const r of rules) {
      const lines = byTable.get(r.table) ?? [];
      lines.push(
        `${r.insert === true ? "-I" : "-A"} ${r.chain} ${r.spec} -m comment --comment "tsstack:${tag}"`,
      );
      byTable.set(r.table, lines);
    }
    try {
      await this.#restore(what, byTable);
    } catch (e) {
      await this.remove(tag).catch(() => undefined);
      throw e;
    }
  }

  /** Whether any rule tagged `tsstack:<tag>` exists. */
  async has(tag: string): Promise<boolean> {
    const { rules } = await this.#save();
    return rules.some((r) => r.comment === `tsstack:${tag}`);
  }

  /**
   * Removes the rules tagged `tsstack:<tag>`, or, with `prefix`, also `tsstack:<tag>:…` (idempotent).
   * Then, when `dropChainsIfEmpty`, removes the chains and their jumps once no rule is left in them.
   */
  async remove(tag: string, opts: { prefix?: boolean; dropChainsIfEmpty?: boolean } = {}): Promise<void> {
    const { chains, rules } = await this.#save();
    const full = `tsstack:${tag}`;
    const match = (c: string | undefined): boolean =>
      c !== undefined && (c === full || (opts.prefix === true && c.startsWith(`${full}:`)));
    const byTable = new Map<Table, string[]>([
      ["nat", []],
      ["filter", []],
    ]);
    const ours = rules.filter((r) => this.#ours(r));
    const doomed = ours.filter((r) => match(r.comment));
    for (const r of doomed) byTable.get(r.table)?.push(`-D${r.line.slice(2)}`);
    const left = ours.filter((r) => !match(r.comment) && r.comment !== this.#jumpTag);
    if (opts.dropChainsIfEmpty === true && left.length === 0) {
      for (const r of ours)
        if (r.comment === this.#jumpTag) byTable.get(r.table)?.push(`-D${r.line.slice(2)}`);
      for (const [table, chain] of [
        ["nat", this.postrouting],
        ["nat", this.dnat],
        ["filter", this.forward],
      ] as const)
        if (chains.has(`${table}/${chain}`)) byTable.get(table)?.push(`-X ${chain}`);
    }
    await this.#restore(`removing the iptables rules of ${full}`, byTable);
  }
}

/** iptables chain names are at most 28 characters; the longest of ours adds 12. */
export function checkChainPrefix(prefix: string): void {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,15}$/.test(prefix))
    throw new TsstackError(
      "network/invalid-config",
      `invalid iptables chain prefix "${prefix}": 1 to 16 letters, digits or _ starting with a letter`,
    );
}
