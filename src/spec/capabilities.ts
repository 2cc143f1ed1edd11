/**
 * What tsstack acts on, and a warning for every key it parses but does not act on.
 *
 * A Compose file may use any key of the specification; tsstack implements a subset. A key outside
 * that subset must never be dropped silently: the user would believe, say, `ipc: host` took effect.
 * `SUPPORTED` is the single description of the subset (extend it as the runtime learns more);
 * `warnUnsupported` compares a model against it.
 *
 * Run it on a model that passed schema validation: it warns about any key it does not know, so a
 * misspelt key (already a schema error) would be reported twice.
 */
import { formatPath, isMapping, type YamlPath } from "./source.js";
import type { ValidationContext } from "./validate.js";

/**
 * How tsstack treats one key:
 * - `true`: honoured, with everything below it;
 * - `false`: parsed but not acted on;
 * - a string: not acted on; the string is shown as the hint (what to do instead, or why);
 * - `{ keys }`: honoured; the keys of its mapping are checked against `keys` (unlisted ones are
 *   not acted on; `x-*` extensions are always fine);
 * - `{ each }`: a mapping of user-chosen names (services, networks…) or a list; every entry or
 *   item is checked against `each`. Entries that are not mappings (a network name in a list,
 *   a port in short syntax) have no keys to check.
 */
export type Support = boolean | string | { readonly keys: SupportTable } | { readonly each: Support };

export type SupportTable = Readonly<Record<string, Support>>;

const keys = (table: SupportTable): Support => ({ keys: table });
const each = (support: Support): Support => ({ each: support });

const SERVICE: SupportTable = {
  image: true,
  build: "tsstack does not build images yet; build the image elsewhere and set `image`",
  command: true,
  entrypoint: true,
  environment: true,
  env_file: true,
  ports: true,
  expose: true,
  volumes: each(
    keys({
      type: true,
      source: true,
      target: true,
      read_only: true,
      bind: keys({ propagation: true, create_host_path: true }),
      volume: keys({ nocopy: true, subpath: true }),
      tmpfs: keys({ size: true, mode: true }),
      consistency: "`consistency` only matters to Docker Desktop on macOS",
    }),
  ),
  networks: each(keys({ aliases: true, ipv4_address: true, ipv6_address: true, priority: true })),
  network_mode: true,
  depends_on: true,
  healthcheck: true,
  restart: true,
  deploy: keys({
    mode: true,
    replicas: true,
    labels: true,
    resources: keys({
      limits: keys({ cpus: true, memory: true, pids: true }),
      reservations: keys({ cpus: true, memory: true }),
    }),
    restart_policy: true,
    update_config: true,
    rollback_config: true,
    placement: true,
  }),
  scale: true,
  labels: true,
  container_name: true,
  hostname: true,
  domainname: true,
  dns: true,
  dns_search: true,
  dns_opt: true,
  extra_hosts: true,
  user: true,
  group_add: true,
  working_dir: true,
  init: true,
  read_only: true,
  tmpfs: true,
  cap_add: true,
  cap_drop: true,
  privileged: true,
  sysctls: true,
  ulimits: true,
  devices: true,
  stdin_open: true,
  tty: true,
  stop_signal: true,
  stop_grace_period: true,
  shm_size: true,
  mem_limit: true,
  mem_reservation: true,
  memswap_limit: true,
  cpus: true,
  pids_limit: true,
  pull_policy: true,
  secrets: true,
  configs: true,
  profiles: true,
  extends: true,
};

const NETWORK: SupportTable = {
  name: true,
  driver: true,
  driver_opts: "network driver options are not applied yet",
  ipam: keys({ config: each(keys({ subnet: true, ip_range: true, gateway: true })) }),
  external: true,
  internal: true,
  enable_ipv4: true,
  enable_ipv6: true,
  attachable: true,
  labels: true,
};

const VOLUME: SupportTable = {
  name: true,
  driver: true,
  driver_opts: "volume driver options (e.g. NFS mounts) are not applied yet",
  external: true,
  labels: true,
};

const SECRET: SupportTable = { name: true, file: true, environment: true, external: true, labels: true };

const CONFIG: SupportTable = {
  name: true,
  file: true,
  environment: true,
  content: true,
  external: true,
  labels: true,
};

/** The part of the Compose specification tsstack honours. */
export const SUPPORTED: Support = keys({
  // Obsolete and ignored; the loader itself warns about it (`spec/obsolete-version`).
  version: true,
  name: true,
  include: true,
  services: each(keys(SERVICE)),
  networks: each(keys(NETWORK)),
  volumes: each(keys(VOLUME)),
  secrets: each(keys(SECRET)),
  configs: each(keys(CONFIG)),
});

/**
 * Warns (code `capability/unsupported`) about every key of `model` that tsstack parses but does
 * not act on, once per key path: a list of five long-syntax ports using
 * the same ignored key yields one warning, at its first use.
 */
export function warnUnsupported(
  model: unknown,
  ctx: ValidationContext,
  supported: Support = SUPPORTED,
): void {
  const warned = new Set<string>();
  const walk = (value: unknown, support: Support, path: YamlPath): void => {
    if (support === true) return;
    if (support === false || typeof support === "string") {
      // List indexes do not make a new key path: services.web.ports[0].x and [3].x are one.
      const id = path.map((seg) => (typeof seg === "number" ? "[]" : seg)).join("\0");
      if (warned.has(id)) return;
      warned.add(id);
      ctx.diags.warn(
        "capability/unsupported",
        path,
        `tsstack does not act on \`${formatPath(path)}\` yet; it is ignored`,
        ctx.sources.locate(model, path, "key"),
        support === false ? undefined : support,
      );
      return;
    }
    // `true` below needs no visit (nor a path): most keys are honoured.
    if ("each" in support) {
      if (support.each === true) return;
      if (Array.isArray(value)) {
        value.forEach((item, i) => {
          walk(item, support.each, [...path, i]);
        });
      } else if (isMapping(value)) {
        for (const k of Object.keys(value)) walk(value[k], support.each, [...path, k]);
      }
      return;
    }
    if (!isMapping(value)) return;
    for (const k of Object.keys(value)) {
      if (k.startsWith("x-")) continue;
      const sub = Object.hasOwn(support.keys, k) ? (support.keys[k] ?? false) : false;
      if (sub !== true) walk(value[k], sub, [...path, k]);
    }
  };
  walk(model, supported, []);
}
