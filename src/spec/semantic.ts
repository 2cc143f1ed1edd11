/**
 * Phase: semantic checks on the merged model (after schema validation, before normalization).
 *
 * The schema says what each value may look like; these checks say whether the values agree with
 * each other: references name things that exist, dependencies form no cycle, no two services claim
 * the same host port, durations and sizes parse. The model is still raw, so every check reads both
 * the short and the long syntax. Values of the wrong type are skipped silently here: the schema
 * phase has already reported them, and reporting them twice would only add noise.
 *
 * The consistency rules follow compose-go's `checkConsistency` and `validation` package, so a file
 * Compose refuses is refused here too; each deviation is commented.
 */
import { formatLocation, formatPath, isMapping, type SourceLocation, type YamlPath } from "./source.js";
import { parseBytes, parseDuration } from "./units.js";
import { closestMatch, type ValidationContext } from "./validate.js";
import { valueAt } from "./tree.js";

type Dict = Record<string, unknown>;

/** One service of the model, with its path (`["services", name]`). */
export interface ServiceEntry {
  readonly name: string;
  readonly path: YamlPath;
  readonly service: Dict;
}

/** The services that are mappings, in declaration order (others are schema errors). */
export function listServices(model: unknown): ServiceEntry[] {
  const services = isMapping(model) ? model["services"] : undefined;
  if (!isMapping(services)) return [];
  const out: ServiceEntry[] = [];
  for (const [name, service] of Object.entries(services)) {
    if (isMapping(service)) out.push({ name, path: ["services", name], service });
  }
  return out;
}

/** A reference from one service to another, and where it is written. */
export interface ServiceRef {
  readonly service: string;
  readonly path: YamlPath;
  /** Whether the name is the key of a mapping entry (long syntax) or a value. */
  readonly part: "key" | "value";
  /** `depends_on.<name>.required: false` makes a missing dependency a warning. */
  readonly required: boolean;
  /** Which attribute makes the reference, for messages: `depends_on`, `network_mode`… */
  readonly via: string;
}

/** `depends_on` in either syntax: a list of names, or a mapping of name → condition. */
export function dependsOnRefs(entry: ServiceEntry): ServiceRef[] {
  const deps = entry.service["depends_on"];
  const base = [...entry.path, "depends_on"];
  if (Array.isArray(deps)) {
    return deps.flatMap((d, i) =>
      typeof d === "string"
        ? [{ service: d, path: [...base, i], part: "value" as const, required: true, via: "depends_on" }]
        : [],
    );
  }
  if (isMapping(deps)) {
    return Object.entries(deps).map(([name, cfg]) => ({
      service: name,
      path: [...base, name],
      part: "key" as const,
      required: !(isMapping(cfg) && (cfg["required"] === false || cfg["required"] === "false")),
      via: "depends_on",
    }));
  }
  return [];
}

/**
 * References that make a service depend on another without `depends_on`, as Compose infers them:
 * `network_mode`/`ipc`/`pid: service:x`, `volumes_from: [x]` and `links: [x:alias]`.
 */
export function implicitServiceRefs(entry: ServiceEntry): ServiceRef[] {
  const out: ServiceRef[] = [];
  for (const key of ["network_mode", "ipc", "pid"]) {
    const v = entry.service[key];
    if (typeof v === "string" && v.startsWith("service:")) {
      out.push({ service: v.slice(8), path: [...entry.path, key], part: "value", required: true, via: key });
    }
  }
  const volumesFrom = entry.service["volumes_from"];
  if (Array.isArray(volumesFrom)) {
    volumesFrom.forEach((v, i) => {
      // `container:name[:mode]` names a container outside the stack; `name[:mode]` a service.
      if (typeof v !== "string" || v.startsWith("container:")) return;
      const name = v.split(":")[0] ?? "";
      const path = [...entry.path, "volumes_from", i];
      out.push({ service: name, path, part: "value", required: true, via: "volumes_from" });
    });
  }
  const links = entry.service["links"];
  if (Array.isArray(links)) {
    links.forEach((v, i) => {
      if (typeof v !== "string") return;
      const name = v.split(":")[0] ?? "";
      out.push({
        service: name,
        path: [...entry.path, "links", i],
        part: "value",
        required: true,
        via: "links",
      });
    });
  }
  return out;
}

export interface SemanticOptions {
  /**
   * Services that profile selection removed from `model`. Like compose-go, run the checks on the
   * model after profiles are applied (two profile variants of a service may well publish the same
   * port), and name the removed services here: a reference to one is then not "undefined".
   * `depends_on` references to them are left to the profile phase, which knows their profiles;
   * other references (`network_mode: service:x`, `volumes_from`, `links`) are reported here.
   * Default: none.
   */
  readonly disabledServices?: Iterable<string>;
}

/**
 * Checks the merged model for consistency and reports every problem to `ctx.diags`. Assumes
 * nothing about the model's shape beyond it being a mapping: malformed parts are skipped.
 */
export function checkSemantics(
  model: Record<string, unknown>,
  ctx: ValidationContext,
  options: SemanticOptions = {},
): void {
  const c = new Checker(model, ctx, new Set(options.disabledServices ?? []));
  const services = listServices(model);
  c.checkServiceRefs(services);
  c.checkResourceRefs(services);
  c.checkPorts(services);
  c.checkUnits(services);
  c.checkContainerNames(services);
  c.checkServiceShape(services);
  c.checkTopLevel();
}

class Checker {
  constructor(
    private readonly model: Dict,
    private readonly ctx: ValidationContext,
    private readonly disabled: ReadonlySet<string>,
  ) {}

  private at(path: YamlPath, part: "key" | "value" = "value"): SourceLocation | undefined {
    return this.ctx.sources.locate(this.model, path, part);
  }

  private error(code: string, path: YamlPath, message: string, hint?: string, part?: "key" | "value"): void {
    this.ctx.diags.error(code, path, message, this.at(path, part), hint);
  }

  private warn(code: string, path: YamlPath, message: string, hint?: string, part?: "key" | "value"): void {
    this.ctx.diags.warn(code, path, message, this.at(path, part), hint);
  }

  /** "declared at stack.yml:3:5" when the position is known. */
  private where(path: YamlPath, part: "key" | "value" = "value"): string {
    const loc = this.at(path, part);
    return loc === undefined ? formatPath(path) : `${formatPath(path)} (${formatLocation(loc)})`;
  }

  // -------------------------------------------------------------------------------------------
  // Services referring to services: unknown names, self-references, cycles.

  checkServiceRefs(services: readonly ServiceEntry[]): void {
    const names = services.map((s) => s.name);
    const known = new Set(names);
    const edges = new Map<string, ServiceRef[]>();
    for (const s of services) {
      const out: ServiceRef[] = [];
      for (const ref of [...dependsOnRefs(s), ...implicitServiceRefs(s)]) {
        if (ref.service === s.name) {
          this.error(
            "depends-on/self",
            ref.path,
            `service "${s.name}" depends on itself (through ${ref.via})`,
            "remove this entry",
            ref.part,
          );
        } else if (this.disabled.has(ref.service)) {
          this.reportDisabledService(ref);
        } else if (!known.has(ref.service)) {
          this.reportUnknownService(s, ref, names);
        } else {
          out.push(ref);
        }
      }
      edges.set(s.name, out);
    }
    this.reportCycles(services, edges);
  }

  private reportDisabledService(ref: ServiceRef): void {
    if (ref.via === "depends_on") return; // the profile phase reports these, naming the profiles
    this.error(
      "reference/disabled-service",
      ref.path,
      `${ref.via} refers to service "${ref.service}", which none of the active profiles enables`,
      `activate one of the profiles of "${ref.service}"`,
      ref.part,
    );
  }

  private reportUnknownService(s: ServiceEntry, ref: ServiceRef, names: readonly string[]): void {
    const suggestion = closestMatch(ref.service, names);
    const hint = suggestion === undefined ? undefined : `did you mean "${suggestion}"?`;
    if (ref.via === "depends_on") {
      if (!ref.required) {
        // compose-go forgives `required: false` only for a service disabled by a profile; the
        // model here no longer tells disabled from undefined, so this stays a warning.
        this.warn(
          "depends-on/unknown-service",
          ref.path,
          `service "${s.name}" depends on service "${ref.service}", which is not defined; ignored because required is false`,
          hint,
          ref.part,
        );
        return;
      }
      this.error(
        "depends-on/unknown-service",
        ref.path,
        `service "${s.name}" depends on service "${ref.service}", which is not defined`,
        hint,
        ref.part,
      );
      return;
    }
    this.error(
      "reference/unknown-service",
      ref.path,
      `${ref.via} refers to service "${ref.service}", which is not defined`,
      hint ??
        (ref.via === "network_mode"
          ? 'to join a container outside the stack, use "container:<name>"'
          : undefined),
      ref.part,
    );
  }

  private reportCycles(
    services: readonly ServiceEntry[],
    edges: ReadonlyMap<string, readonly ServiceRef[]>,
  ): void {
    // Depth-first search; a reference back to a service still on the stack closes a cycle. Each
    // such back reference is reported once, at the entry that closes the cycle. Iterative (a long
    // `depends_on` chain must not exhaust the call stack), each service and reference visited once.
    const state = new Map<string, "active" | "done">();
    /** The services on the current path, and where each sits in it. */
    const stack: string[] = [];
    const position = new Map<string, number>();
    const frames: { readonly refs: readonly ServiceRef[]; next: number }[] = [];
    const enter = (name: string): void => {
      state.set(name, "active");
      position.set(name, stack.length);
      stack.push(name);
      frames.push({ refs: edges.get(name) ?? [], next: 0 });
    };
    for (const s of services) {
      if (state.has(s.name)) continue;
      enter(s.name);
      for (let frame = frames.at(-1); frame !== undefined; frame = frames.at(-1)) {
        const ref = frame.refs[frame.next];
        if (ref === undefined) {
          frames.pop();
          const name = stack.pop() ?? "";
          position.delete(name);
          state.set(name, "done");
          continue;
        }
        frame.next++;
        const st = state.get(ref.service);
        if (st === "active") {
          const cycle = [...stack.slice(position.get(ref.service)), ref.service];
          this.error(
            "depends-on/cycle",
            ref.path,
            `dependency cycle: ${cycle.join(" -> ")}`,
            "services in a cycle can never start; remove one of these dependencies",
            ref.part,
          );
        } else if (st === undefined) {
          enter(ref.service);
        }
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Services referring to top-level networks, volumes, secrets and configs.

  private declared(section: string): string[] {
    const v = this.model[section];
    return isMapping(v) ? Object.keys(v) : [];
  }

  private reportUndeclared(
    kind: string,
    section: string,
    name: string,
    path: YamlPath,
    part: "key" | "value",
    declared: readonly string[],
  ): void {
    const suggestion = closestMatch(name, declared);
    this.error(
      `reference/undeclared-${kind}`,
      path,
      `${kind} "${name}" is not declared in the top-level \`${section}\``,
      suggestion === undefined
        ? `declare it under \`${section}:\` at the top level`
        : `did you mean "${suggestion}"?`,
      part,
    );
  }

  checkResourceRefs(services: readonly ServiceEntry[]): void {
    // `default` is the network every service joins unless told otherwise; it need not be declared.
    const networks = [...this.declared("networks"), "default"];
    const volumes = this.declared("volumes");
    const secrets = declaredNames(this.declared("secrets"));
    const configs = declaredNames(this.declared("configs"));
    const networkSet = new Set(networks);
    const volumeSet = new Set(volumes);
    for (const s of services) {
      const nets = s.service["networks"];
      const netBase = [...s.path, "networks"];
      if (Array.isArray(nets)) {
        nets.forEach((n, i) => {
          if (typeof n === "string" && !networkSet.has(n)) {
            this.reportUndeclared("network", "networks", n, [...netBase, i], "value", networks);
          }
        });
      } else if (isMapping(nets)) {
        for (const n of Object.keys(nets)) {
          if (!networkSet.has(n))
            this.reportUndeclared("network", "networks", n, [...netBase, n], "key", networks);
        }
      }
      const joinsNetworks = Array.isArray(nets)
        ? nets.length > 0
        : isMapping(nets) && Object.keys(nets).length > 0;
      if (typeof s.service["network_mode"] === "string" && joinsNetworks) {
        this.error(
          "network-mode/conflict",
          [...s.path, "network_mode"],
          "`network_mode` and `networks` cannot both be set: the container either joins networks or shares another network namespace",
          "remove one of them",
        );
      }

      const vols = s.service["volumes"];
      if (Array.isArray(vols)) {
        vols.forEach((v, i) => {
          const name = namedVolumeSource(v);
          if (name !== undefined && !volumeSet.has(name)) {
            const path =
              typeof v === "string" ? [...s.path, "volumes", i] : [...s.path, "volumes", i, "source"];
            this.reportUndeclared("volume", "volumes", name, path, "value", volumes);
          }
        });
      }

      this.checkGrants(s.service["secrets"], s.path, ["secrets"], "secret", "secrets", secrets);
      this.checkGrants(s.service["configs"], s.path, ["configs"], "config", "configs", configs);
      const build = s.service["build"];
      if (isMapping(build)) {
        this.checkGrants(build["secrets"], s.path, ["build", "secrets"], "secret", "secrets", secrets);
      }
    }
  }

  /** `secrets:` / `configs:` grants: `- name` or `- source: name`. */
  private checkGrants(
    list: unknown,
    service: YamlPath,
    rel: YamlPath,
    kind: string,
    section: string,
    { names: declared, known }: DeclaredNames,
  ): void {
    if (!Array.isArray(list)) return;
    list.forEach((g, i) => {
      if (typeof g === "string") {
        if (!known.has(g))
          this.reportUndeclared(kind, section, g, [...service, ...rel, i], "value", declared);
      } else if (isMapping(g) && typeof g["source"] === "string" && !known.has(g["source"])) {
        this.reportUndeclared(
          kind,
          section,
          g["source"],
          [...service, ...rel, i, "source"],
          "value",
          declared,
        );
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Published host ports.

  checkPorts(services: readonly ServiceEntry[]): void {
    interface Claim {
      readonly protocol: string;
      readonly ip: string;
      readonly port: number;
      readonly path: YamlPath;
      readonly service: string;
      readonly value: string;
    }
    // Claims by protocol and port, each list in declaration order: a port is only compared with
    // the claims on the same port, not with every earlier one.
    const claims = new Map<string, Claim[]>();
    for (const s of services) {
      const ports = s.service["ports"];
      if (!Array.isArray(ports)) continue;
      ports.forEach((item, i) => {
        const binding = publishedPorts(item);
        if (binding === undefined) return;
        const path = [...s.path, "ports", i];
        const value = JSON.stringify(item);
        // Grouped by the entry clashed with, so a clashing range gives one message.
        const clashes = new Map<string, { other: Claim; ports: number[] }>();
        for (const port of binding.hostPorts) {
          const other = claims.get(`${binding.protocol}/${port}`)?.find(
            (c) =>
              ipsOverlap(c.ip, binding.ip) &&
              // The very same entry twice in one service is the schema's `uniqueItems` error.
              !(c.service === s.name && c.value === value),
          );
          if (other === undefined) continue;
          const key = JSON.stringify(other.path);
          const group = clashes.get(key) ?? { other, ports: [] };
          group.ports.push(port);
          clashes.set(key, group);
        }
        for (const { other, ports: clashing } of clashes.values()) {
          const ip = binding.ip === "" ? "" : `${binding.ip.includes(":") ? `[${binding.ip}]` : binding.ip}:`;
          const many = clashing.length > 1;
          this.error(
            "ports/duplicate",
            path,
            `host port${many ? "s" : ""} ${ip}${formatPortList(clashing)}/${binding.protocol} ${many ? "are" : "is"} already published by ${this.where(other.path)}`,
            "two containers cannot listen on the same host port; publish a different one",
          );
        }
        for (const port of binding.hostPorts) {
          const key = `${binding.protocol}/${port}`;
          const claim = { protocol: binding.protocol, ip: binding.ip, port, path, service: s.name, value };
          const list = claims.get(key);
          if (list === undefined) claims.set(key, [claim]);
          else list.push(claim);
        }
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Durations and byte sizes.

  checkUnits(services: readonly ServiceEntry[]): void {
    for (const s of services) {
      for (const rel of DURATION_PATHS) this.checkDuration(s.service, s.path, rel);
      for (const rel of SIZE_PATHS) this.checkSize(s.service, s.path, rel, rel[0] === "memswap_limit");
      const blkio = s.service["blkio_config"];
      if (isMapping(blkio)) {
        for (const key of ["device_read_bps", "device_write_bps"]) {
          const list = blkio[key];
          if (!Array.isArray(list)) continue;
          list.forEach((_, i) => {
            this.checkSize(s.service, s.path, ["blkio_config", key, i, "rate"], false);
          });
        }
      }
      const vols = s.service["volumes"];
      if (Array.isArray(vols)) {
        vols.forEach((v, i) => {
          // Only the long syntax has a tmpfs size; skip the others without building a path.
          if (isMapping(v) && isMapping(v["tmpfs"]))
            this.checkSize(s.service, s.path, ["volumes", i, "tmpfs", "size"], false);
        });
      }
      this.checkTmpfsOptions(s);
    }
  }

  private checkDuration(root: unknown, base: YamlPath, rel: YamlPath): void {
    const v = valueAt(root, rel);
    if (typeof v !== "string") return;
    const path = [...base, ...rel];
    const ms = parseDuration(v);
    if (ms === undefined) {
      const hint = /^\s*\d+(\.\d+)?\s*$/.test(v)
        ? `add a unit, e.g. "${v.trim()}s"`
        : 'write a number with a unit, e.g. "10s", "1m30s" or "500ms" (units: ns, us, ms, s, m, h)';
      this.error("value/duration", path, `${JSON.stringify(v)} is not a duration`, hint);
    } else if (ms < 0) {
      this.error(
        "value/duration",
        path,
        `${JSON.stringify(v)} is negative; a duration here must be 0 or more`,
      );
    }
  }

  private checkSize(root: unknown, base: YamlPath, rel: YamlPath, allowUnlimited: boolean): void {
    const v = valueAt(root, rel);
    if (typeof v !== "string" && typeof v !== "number") return;
    // memswap_limit: -1 means unlimited swap (Docker's convention).
    if (allowUnlimited && (v === -1 || v === "-1")) return;
    if (parseBytes(v) !== undefined) return;
    this.error(
      "value/bytes",
      [...base, ...rel],
      `${JSON.stringify(v)} is not a byte size`,
      'write a number of bytes, or a number with a unit b, k, m, g, t (e.g. "512m", "1.5g")',
    );
  }

  /** Short `tmpfs` entries: `/run:rw,size=64m,mode=1777`. */
  private checkTmpfsOptions(s: ServiceEntry): void {
    const tmpfs = s.service["tmpfs"];
    const list = typeof tmpfs === "string" ? [tmpfs] : Array.isArray(tmpfs) ? tmpfs : [];
    list.forEach((entry, i) => {
      if (typeof entry !== "string") return;
      const colon = entry.indexOf(":");
      if (colon < 0) return;
      for (const opt of entry.slice(colon + 1).split(",")) {
        if (!opt.startsWith("size=")) continue;
        const size = opt.slice(5);
        if (parseBytes(size) === undefined) {
          const path = typeof tmpfs === "string" ? [...s.path, "tmpfs"] : [...s.path, "tmpfs", i];
          this.error(
            "value/bytes",
            path,
            `size=${size} is not a byte size`,
            'write a number of bytes, or a number with a unit b, k, m, g, t (e.g. "size=64m")',
          );
        }
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // container_name: one container per name.

  checkContainerNames(services: readonly ServiceEntry[]): void {
    const owners = new Map<string, ServiceEntry>();
    for (const s of services) {
      const name = s.service["container_name"];
      if (typeof name !== "string") continue;
      const path = [...s.path, "container_name"];
      const deploy = s.service["deploy"];
      const replicas = Math.max(
        count(isMapping(deploy) ? deploy["replicas"] : undefined) ?? 1,
        count(s.service["scale"]) ?? 1,
      );
      if (replicas > 1) {
        this.error(
          "container-name/replicas",
          path,
          `container_name "${name}" names a single container, but the service asks for ${replicas} replicas`,
          "remove container_name, or run one replica",
        );
      }
      const owner = owners.get(name);
      if (owner === undefined) {
        owners.set(name, s);
      } else {
        this.error(
          "container-name/duplicate",
          path,
          `container_name "${name}" is already used by service "${owner.name}"`,
          `container names are unique per host; see ${this.where([...owner.path, "container_name"])}`,
        );
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Per-service rules of compose-go's consistency check.

  checkServiceShape(services: readonly ServiceEntry[]): void {
    for (const s of services) {
      const svc = s.service;
      // `extends` still present means the extends phase left it for later; `provider` services
      // are run by an external provider and need no image.
      if (
        svc["image"] === undefined &&
        svc["build"] === undefined &&
        svc["extends"] === undefined &&
        svc["provider"] === undefined
      ) {
        this.error(
          "service/no-image",
          s.path,
          `service "${s.name}" has neither an image nor a build context`,
          "set `image`",
          "key",
        );
      }
      const build = svc["build"];
      if (isMapping(build) && build["dockerfile"] !== undefined && build["dockerfile_inline"] !== undefined) {
        this.error(
          "build/conflict",
          [...s.path, "build", "dockerfile_inline"],
          "`dockerfile` and `dockerfile_inline` cannot both be set",
          undefined,
          "key",
        );
      }
      const health = svc["healthcheck"];
      const test = isMapping(health) ? health["test"] : undefined;
      if (Array.isArray(test) && test.length > 0 && !["CMD", "CMD-SHELL", "NONE"].includes(String(test[0]))) {
        this.error(
          "healthcheck/test",
          [...s.path, "healthcheck", "test", 0],
          `a healthcheck test list must start with "CMD", "CMD-SHELL" or "NONE", not ${JSON.stringify(test[0])}`,
          `e.g. ["CMD", "curl", "-f", "http://localhost"], or write the test as one string to run it in a shell`,
        );
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Top-level resources: external ones take no creation options; secrets and configs need a source.

  checkTopLevel(): void {
    for (const section of ["volumes", "networks", "secrets", "configs"] as const) {
      const resources = this.model[section];
      if (!isMapping(resources)) continue;
      const kind = section.slice(0, -1);
      for (const [name, res] of Object.entries(resources)) {
        if (!isMapping(res)) continue;
        const path = [section, name];
        const external = res["external"];
        if (external === true || external === "true" || isMapping(external)) {
          this.checkExternal(kind, path, res);
        } else if (section === "secrets" || section === "configs") {
          this.checkSource(kind, path, res);
        }
      }
    }
  }

  private checkExternal(kind: string, path: YamlPath, res: Dict): void {
    const external = res["external"];
    if (isMapping(external) && external["name"] !== undefined && res["name"] !== undefined) {
      this.error(
        "external/name-conflict",
        [...path, "external", "name"],
        "`external.name` and `name` are both set",
        "`external.name` is deprecated: keep only `name`",
        "key",
      );
    }
    for (const key of Object.keys(res)) {
      if (key === "name" || key === "external" || key.startsWith("x-")) continue;
      if (kind === "volume") {
        // compose-go refuses these for volumes only.
        this.error(
          "external/conflict",
          [...path, key],
          `conflicting keys "external" and "${key}": an external volume already exists, so it takes no creation options`,
          `remove "${key}", or remove "external" to let tsstack create the volume`,
          "key",
        );
      } else {
        // compose-go accepts and ignores them for networks, secrets and configs; say so.
        this.warn(
          "external/ignored",
          [...path, key],
          `"${key}" is ignored: the ${kind} is external, so tsstack does not create it`,
          undefined,
          "key",
        );
      }
    }
  }

  private checkSource(kind: string, path: YamlPath, res: Dict): void {
    const keys = kind === "config" ? ["file", "environment", "content"] : ["file", "environment"];
    const set = keys.filter((k) => res[k] !== undefined);
    const list = keys.map((k) => `\`${k}\``).join(", ");
    if (set.length > 1) {
      this.error(
        `${kind}/source`,
        [...path, set[1] ?? ""],
        `${list} are mutually exclusive, but ${set.map((k) => `\`${k}\``).join(" and ")} are set`,
        undefined,
        "key",
      );
    } else if (set.length === 0 && res["driver"] === undefined) {
      this.error(
        `${kind}/source`,
        path,
        `${kind} "${String(path[1])}" has no content: set one of ${list}, or mark it \`external: true\``,
        undefined,
        "key",
      );
    }
  }
}

/** The names a top-level section declares, as a list (for suggestions) and a set (for lookups). */
interface DeclaredNames {
  readonly names: readonly string[];
  readonly known: ReadonlySet<string>;
}

function declaredNames(names: readonly string[]): DeclaredNames {
  return { names, known: new Set(names) };
}

/** Service attributes holding Go durations, relative to the service. */
const DURATION_PATHS: readonly YamlPath[] = [
  ["healthcheck", "interval"],
  ["healthcheck", "timeout"],
  ["healthcheck", "start_period"],
  ["healthcheck", "start_interval"],
  ["stop_grace_period"],
  ["deploy", "restart_policy", "delay"],
  ["deploy", "restart_policy", "window"],
  ["deploy", "update_config", "delay"],
  ["deploy", "update_config", "monitor"],
  ["deploy", "rollback_config", "delay"],
  ["deploy", "rollback_config", "monitor"],
];

/** Service attributes holding byte sizes, relative to the service. */
const SIZE_PATHS: readonly YamlPath[] = [
  ["mem_limit"],
  ["memswap_limit"],
  ["mem_reservation"],
  ["shm_size"],
  ["build", "shm_size"],
  ["deploy", "resources", "limits", "memory"],
  ["deploy", "resources", "reservations", "memory"],
];

/** A replica count written as an integer or a string of digits (interpolated values). */
function count(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "string" && /^\s*\d+\s*$/.test(v)) return Number(v);
  return undefined;
}

/**
 * The named volume a service `volumes` entry mounts, or `undefined` for bind mounts, tmpfs and
 * anonymous volumes. Short syntax follows compose-go: a source starting with `.`, `/`, `~`, `\\`
 * or a Windows drive is a path; anything else is a volume name.
 */
export function namedVolumeSource(entry: unknown): string | undefined {
  if (isMapping(entry)) {
    const source = entry["source"];
    return entry["type"] === "volume" && typeof source === "string" && source !== "" ? source : undefined;
  }
  if (typeof entry !== "string") return undefined;
  if (/^[A-Za-z]:[\\/]/.test(entry)) return undefined;
  const colon = entry.indexOf(":");
  if (colon <= 0) return undefined; // only a container path: an anonymous volume
  const source = entry.slice(0, colon);
  if (/^[./~]/.test(source) || source.startsWith("\\\\")) return undefined;
  return source;
}

/** The host side of a `ports` entry, when it publishes fixed host ports. */
export interface PortBinding {
  /** Host IP, without brackets; "" for all interfaces. */
  readonly ip: string;
  readonly protocol: string;
  readonly hostPorts: readonly number[];
}

/**
 * The fixed host ports a `ports` entry (short or long syntax) publishes. `undefined` when it
 * publishes none the engine does not choose itself: container-only entries, an empty host port,
 * a host range for a single container port (the engine picks one port of the range), and
 * malformed entries (the normalizer reports those).
 */
export function publishedPorts(item: unknown): PortBinding | undefined {
  if (typeof item === "string") return parseShortPort(item);
  if (!isMapping(item)) return undefined;
  const host = rangeField(item["published"]);
  if (host === undefined) return undefined;
  const container = rangeField(item["target"]);
  const protocol = typeof item["protocol"] === "string" ? item["protocol"].toLowerCase() : "tcp";
  const ip = typeof item["host_ip"] === "string" ? item["host_ip"].replace(/^\[(.*)\]$/, "$1") : "";
  return binding(ip, protocol, host, container);
}

function parseShortPort(spec: string): PortBinding | undefined {
  let s = spec.trim();
  let protocol = "tcp";
  const slash = s.lastIndexOf("/");
  if (slash >= 0) {
    protocol = s.slice(slash + 1).toLowerCase();
    s = s.slice(0, slash);
  }
  // [[ip:]host:]container, split from the right so that a bare IPv6 address keeps its colons.
  const lastColon = s.lastIndexOf(":");
  if (lastColon < 0) return undefined;
  const container = parseRange(s.slice(lastColon + 1));
  const rest = s.slice(0, lastColon);
  const hostColon = rest.lastIndexOf(":");
  const ip = (hostColon < 0 ? "" : rest.slice(0, hostColon)).replace(/^\[(.*)\]$/, "$1");
  const hostText = hostColon < 0 ? rest : rest.slice(hostColon + 1);
  if (hostText === "") return undefined;
  return binding(ip, protocol, parseRange(hostText), container);
}

/** An inclusive port range; a single port is `[p, p]`. */
type Range = readonly [number, number];

function binding(
  ip: string,
  protocol: string,
  host: Range | undefined,
  container: Range | undefined,
): PortBinding | undefined {
  if (host === undefined) return undefined;
  const [from, to] = host;
  if (container !== undefined && container[0] === container[1] && to > from) return undefined;
  const hostPorts: number[] = [];
  for (let p = from; p <= to; p++) hostPorts.push(p);
  return { ip, protocol, hostPorts };
}

/** A long-syntax port field: a number is a one-port range, a string is parsed as `from[-to]`. */
function rangeField(value: unknown): Range | undefined {
  if (typeof value === "number") return [value, value];
  return typeof value === "string" ? parseRange(value) : undefined;
}

function parseRange(text: string): Range | undefined {
  const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(text);
  if (m === null) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || to < from) return undefined;
  return [from, to];
}

/** Whether two host IPs can collide: equal, or one is a wildcard of the other's family. */
function ipsOverlap(a: string, b: string): boolean {
  if (a === b || a === "" || b === "") return true;
  const v6 = (ip: string): boolean => ip.includes(":");
  if (a === "0.0.0.0") return !v6(b);
  if (b === "0.0.0.0") return !v6(a);
  if (a === "::") return v6(b);
  if (b === "::") return v6(a);
  return false;
}

/** [8000, 8001, 8002, 9000] → "8000-8002, 9000". */
function formatPortList(ports: readonly number[]): string {
  const parts: string[] = [];
  let start = ports[0];
  let prev = start;
  for (const p of [...ports.slice(1), Number.NaN]) {
    if (prev !== undefined && p === prev + 1) {
      prev = p;
      continue;
    }
    if (start !== undefined && prev !== undefined)
      parts.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = p;
    prev = p;
  }
  return parts.join(", ");
}
