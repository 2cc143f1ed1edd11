import type { ObservedContainer } from "../../../src/reconciler/observed.js";
import { loadStack } from "../../../src/spec/load.js";
import type { StackSpec } from "../../../src/spec/types.js";

/** A stack from YAML text, loaded as `tsstack` would from /proj/stack.yml (project name `proj`). */
export function stackFrom(yaml: string, environment: Readonly<Record<string, string>> = {}): StackSpec {
  return loadStack({
    files: ["/proj/stack.yml"],
    workingDir: "/proj",
    projectName: "proj",
    environment,
    homeDir: "/home/u",
    readFile: (path) => {
      if (path === "/proj/stack.yml") return yaml;
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    },
  }).spec;
}

/** Container `proj-<service>-<replica>` of the project as observed: running with `configHash`, unless `extra` says otherwise. */
export function observedContainer(
  service: string,
  replica: number,
  configHash: string,
  extra: Partial<ObservedContainer> = {},
): ObservedContainer {
  return {
    id: `${service}${String(replica)}id`,
    name: `proj-${service}-${String(replica)}`,
    service,
    replica,
    configHash,
    state: "running",
    ...extra,
  };
}
