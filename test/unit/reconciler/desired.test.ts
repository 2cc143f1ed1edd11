import { describe, expect, it } from "vitest";
import { desiredStack } from "../../../src/reconciler/desired.js";
import { observedContainer, observedStack } from "../../../src/reconciler/observed.js";
import type { ContainerSummary } from "../../../src/runtime/runtime.js";
import { networkConfigHash, serviceConfigHash, volumeConfigHash } from "../../../src/spec/canonical.js";
import { stackFrom } from "./stack.js";

const SPEC = stackFrom(`
services:
  web:
    image: nginx
    depends_on: [api]
    networks: [front]
    deploy:
      replicas: 2
      update_config: {order: start-first, delay: 2s}
  api:
    image: api
    scale: 3
    depends_on: {db: {condition: service_healthy, required: false}}
    networks: [front, back]
  db:
    image: postgres
    container_name: the-db
    networks: [back]
    volumes: [data:/data, ext:/ext]
  tool:
    image: busybox
    network_mode: none
networks: {front: {}, back: {}, unused: {}}
volumes: {data: {}, ext: {external: true}}
`);

describe("desiredStack", () => {
  it("orders services after their dependencies and takes replicas from scale or deploy.replicas", () => {
    const d = desiredStack(SPEC);
    expect(d.services.map((s) => `${s.name}×${String(s.replicas)}`)).toEqual([
      "db×1",
      "api×3",
      "web×2",
      "tool×1",
    ]);
    expect(d.allServices).toEqual(["web", "api", "db", "tool"]);
    expect(d.services.find((s) => s.name === "web")?.configHash).toBe(serviceConfigHash(SPEC, "web"));
  });

  it("applies update_config defaults and records dependencies with their conditions", () => {
    const d = desiredStack(SPEC);
    expect(d.services.find((s) => s.name === "web")?.update).toEqual({
      parallelism: 1,
      order: "start-first",
      delay: 2000,
      monitor: 5000,
      failureAction: "pause",
      maxFailureRatio: 0,
    });
    expect(d.services.find((s) => s.name === "api")?.dependsOn).toEqual([
      { service: "db", condition: "service_healthy", required: false, restart: false },
    ]);
  });

  it("lists only the networks and volumes the converged services use, with engine names", () => {
    const d = desiredStack(SPEC);
    // Each with the config hash of its definition (planner-resources.test.ts), none for external ones.
    expect(
      d.networks.map(({ key, name, external, configHash }) => [key, name, external, configHash]),
    ).toEqual([
      ["front", "proj_front", false, networkConfigHash(SPEC, "front")],
      ["back", "proj_back", false, networkConfigHash(SPEC, "back")],
    ]);
    expect(d.volumes.map(({ key, name, external, configHash }) => [key, name, external, configHash])).toEqual(
      [
        ["data", "proj_data", false, volumeConfigHash(SPEC, "data")],
        ["ext", "ext", true, undefined],
      ],
    );
  });

  it("takes each service's image id from the store's facts, and leaves it unset for an image not there", () => {
    const images = new Map([["nginx", { id: "sha256:n1", volumes: [] }]]);
    const d = desiredStack(SPEC, { images });
    expect(d.services.map((s) => [s.name, s.image, s.imageId])).toEqual([
      ["db", "postgres", undefined],
      ["api", "api", undefined],
      ["web", "nginx", "sha256:n1"],
      ["tool", "busybox", undefined],
    ]);
  });

  it("knows where containers get anonymous volumes: sourceless entries and uncovered image VOLUMEs", () => {
    const spec = stackFrom(`
services:
  db:
    image: postgres
    volumes: ["/scratch/", "data:/var/lib/postgresql/data", "./conf:/etc/conf"]
    tmpfs: ["/run:size=1m"]
volumes: {data: {}}
`);
    const images = new Map([
      ["postgres", { id: "sha256:p1", volumes: ["/var/lib/postgresql/data", "/etc/conf", "/run", "/logs"] }],
    ]);
    expect(desiredStack(spec, { images }).services[0]?.anonymousVolumes).toEqual(["/scratch", "/logs"]);
    // Without the image's facts only the file's own entries are known.
    expect(desiredStack(spec).services[0]?.anonymousVolumes).toEqual(["/scratch"]);
  });

  it("lets --scale win over scale and deploy.replicas", () => {
    const d = desiredStack(SPEC, { scale: { api: 1, web: 0 } });
    expect(d.services.map((s) => s.replicas)).toEqual([1, 1, 0, 1]);
  });

  it("selects requested services with their dependencies, or alone with noDeps", () => {
    expect(desiredStack(SPEC, { services: ["api"] }).services.map((s) => s.name)).toEqual(["db", "api"]);
    const alone = desiredStack(SPEC, { services: ["web"], noDeps: true });
    expect(alone.services.map((s) => s.name)).toEqual(["web"]);
    expect(alone.networks.map((n) => n.key)).toEqual(["front"]);
    expect(alone.volumes).toEqual([]);
  });

  it.each([
    [
      { services: ["nope"] },
      /planning stack "proj": no service "nope" in the stack \(it has: web, api, db, tool\)/,
    ],
    [{ scale: { nope: 2 } }, /no service "nope"/],
    [{ scale: { db: 2 } }, /service "db" sets container_name "the-db", so it cannot have 2 replicas/],
    [{ scale: { api: -1 } }, /service "api": -1 is not a number of replicas/],
  ])("refuses %j", (opts, message) => {
    expect(() => desiredStack(SPEC, opts)).toThrow(message);
  });
});

const summary = (
  labels: Record<string, string>,
  extra: Partial<ContainerSummary> = {},
): ContainerSummary => ({
  Id: "abc",
  Names: ["/proj-web-2"],
  Image: "nginx",
  ImageID: "sha256:1",
  Command: "nginx",
  Created: 0,
  State: "running",
  Status: "Up 3 seconds (healthy)",
  Labels: labels,
  Ports: [],
  Mounts: [],
  ...extra,
});
const OWN = {
  "com.docker.compose.project": "proj",
  "com.docker.compose.service": "web",
  "com.docker.compose.container-number": "2",
  "com.docker.compose.config-hash": "h1",
  "com.docker.compose.oneoff": "False",
};

describe("observedContainer", () => {
  it("reads service, replica, hash, image id, state and health from a listed container", () => {
    expect(observedContainer("proj", summary(OWN))).toEqual({
      id: "abc",
      name: "proj-web-2",
      service: "web",
      replica: 2,
      configHash: "h1",
      imageId: "sha256:1",
      state: "running",
      health: "healthy",
    });
  });

  it("reads the volumes it mounts by name, with normalized targets, and nothing else", () => {
    const mounts: ContainerSummary["Mounts"] = [
      {
        Type: "volume",
        Name: "a1b2",
        Source: "/v/a1b2/_data",
        Destination: "/data/",
        Mode: "",
        RW: true,
        Propagation: "",
      },
      {
        Type: "volume",
        Name: "proj_db",
        Source: "/v/proj_db/_data",
        Destination: "/db",
        Mode: "",
        RW: true,
        Propagation: "",
      },
      { Type: "bind", Source: "/etc/x", Destination: "/x", Mode: "", RW: true, Propagation: "rprivate" },
      { Type: "tmpfs", Source: "", Destination: "/tmp", Mode: "", RW: true, Propagation: "" },
    ];
    expect(observedContainer("proj", summary(OWN, { Mounts: mounts }))?.volumes).toEqual([
      { name: "a1b2", target: "/data" },
      { name: "proj_db", target: "/db" },
    ]);
    expect(observedContainer("proj", summary(OWN, { ImageID: "" }))?.imageId).toBeUndefined();
  });

  it.each([
    ["Up 1 second (health: starting)", "starting"],
    ["Up 2 minutes (unhealthy)", "unhealthy"],
    ["Exited (0) 2 minutes ago", undefined],
  ])("reads health from %s", (Status, health) => {
    expect(observedContainer("proj", summary(OWN, { Status }))?.health).toBe(health);
  });

  it("ignores other projects, one-off containers, and unlabelled ones; tolerates a bad number", () => {
    expect(observedContainer("other", summary(OWN))).toBeUndefined();
    expect(
      observedContainer("proj", summary({ ...OWN, "com.docker.compose.oneoff": "True" })),
    ).toBeUndefined();
    expect(observedContainer("proj", summary({}))).toBeUndefined();
    const bad = observedContainer("proj", summary({ ...OWN, "com.docker.compose.container-number": "x" }));
    expect(bad?.replica).toBeUndefined();
  });

  it("keeps the stack's own networks and volumes, with their keys", () => {
    const p = { "com.docker.compose.project": "proj" };
    const o = observedStack(
      "proj",
      [summary(OWN)],
      [
        { Name: "proj_default", Labels: { ...p, "com.docker.compose.network": "default" } },
        { Name: "bridge" },
      ],
      [
        { Name: "proj_data", Labels: { ...p, "com.docker.compose.volume": "data" } },
        { Name: "x", Labels: null },
      ],
    );
    expect(o.networks).toEqual([{ name: "proj_default", key: "default" }]);
    expect(o.volumes).toEqual([{ name: "proj_data", key: "data" }]);
    expect(o.containers.map((c) => c.name)).toEqual(["proj-web-2"]);
  });

  it("reads the config-hash label, a network's attached containers and a volume's settings", () => {
    const own = { "com.docker.compose.project": "proj", "com.docker.compose.config-hash": "abc" };
    const o = observedStack(
      "proj",
      [],
      [{ Name: "proj_default", Labels: own, Containers: { c1: {}, c2: {} } }],
      [{ Name: "proj_data", Labels: { ...own, tier: "db" }, Driver: "local", Options: { o: "size=1m" } }],
    );
    expect(o.networks).toEqual([{ name: "proj_default", configHash: "abc", containers: ["c1", "c2"] }]);
    expect(o.volumes).toEqual([
      {
        name: "proj_data",
        configHash: "abc",
        config: { driver: "local", options: { o: "size=1m" }, labels: { tier: "db" } },
      },
    ]);
  });
});
