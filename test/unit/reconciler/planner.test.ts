import { describe, expect, it } from "vitest";
import { desiredStack, type DesiredOptions } from "../../../src/reconciler/desired.js";
import type { ObservedContainer, ObservedStack } from "../../../src/reconciler/observed.js";
import { plan, planDown, type DownOptions, type PlanOptions } from "../../../src/reconciler/planner.js";
import type { StackSpec } from "../../../src/spec/types.js";
import { observedContainer, stackFrom } from "./stack.js";

/** Readable hashes: `<service>1111…`, so the plan text shows `web1111 → web2222`. */
const hashes = (version: Readonly<Record<string, number>> = {}): DesiredOptions["hash"] => {
  return (_spec, service) => `${service}${String(version[service] ?? 1).repeat(4)}0000`;
};
const h = (service: string, version = 1): string => `${service}${String(version).repeat(4)}0000`;

const ctr = (service: string, replica: number, extra: Partial<ObservedContainer> = {}): ObservedContainer =>
  observedContainer(service, replica, h(service), extra);

const APP = stackFrom(`
services:
  db:
    image: postgres
    volumes: [data:/var/lib/postgresql/data]
    healthcheck: {test: pg_isready}
  api:
    image: api
    depends_on: {db: {condition: service_healthy}}
  web:
    image: nginx
    ports: ["8080:80"]
    depends_on: [api]
volumes: {data: {}}
`);

const UP: ObservedStack = {
  containers: [ctr("db", 1), ctr("api", 1), ctr("web", 1)],
  networks: [{ name: "proj_default", key: "default" }],
  volumes: [{ name: "proj_data", key: "data" }],
};

const ROLLING = (order: string, parallelism: number): StackSpec =>
  stackFrom(`
services:
  web:
    image: nginx
    deploy:
      replicas: 3
      update_config: {parallelism: ${String(parallelism)}, order: ${order}, delay: 5s}
`);
const WEB3: ObservedStack = {
  containers: [ctr("web", 1), ctr("web", 2), ctr("web", 3)],
  networks: [{ name: "proj_default" }],
  volumes: [],
};

interface Case {
  name: string;
  spec?: StackSpec;
  desired?: DesiredOptions;
  observed: ObservedStack;
  opts?: PlanOptions;
  expected: string[];
}

const EMPTY: ObservedStack = { containers: [], networks: [], volumes: [] };

const cases: Case[] = [
  {
    name: "a fresh up creates networks and volumes, then each service after its dependencies",
    observed: EMPTY,
    expected: [
      "#1 network:proj_default create-network (missing)",
      "#2 volume:proj_data create-volume (missing)",
      "#3 container:db.1 create (missing) after #1,#2",
      "#4 container:api.1 create (missing) after #1,#3 wait db:service_healthy",
      "#5 container:web.1 create (missing) after #1,#4 wait api:service_started",
    ],
  },
  {
    name: "a converged stack gives an empty plan",
    observed: UP,
    expected: [],
  },
  {
    name: "a changed service is recreated and nothing else is touched",
    desired: { hash: hashes({ api: 2 }) },
    observed: UP,
    expected: [
      "#1 container:api.1 recreate (config hash changed: api1111 → api2222) wait db:service_healthy",
    ],
  },
  {
    name: "a dependent with restart: true is restarted after its dependency is recreated",
    spec: stackFrom(`
services:
  db: {image: postgres}
  api: {image: api, depends_on: {db: {condition: service_started, restart: true}}}
`),
    desired: { hash: hashes({ db: 2 }) },
    observed: {
      containers: [ctr("db", 1), ctr("api", 1)],
      networks: [{ name: "proj_default" }],
      volumes: [],
    },
    expected: [
      "#1 container:db.1 recreate (config hash changed: db11110 → db22220)",
      "#2 container:api.1 restart (dependency db was recreated) after #1 wait db:service_started",
    ],
  },
  {
    name: "scaling 3 → 1 stops and removes the highest numbers first",
    desired: { scale: { api: 1 } },
    observed: { ...UP, containers: [...UP.containers, ctr("api", 2), ctr("api", 3, { state: "exited" })] },
    expected: [
      "#1 container:api.3 remove (scale 3 → 1)",
      "#2 container:api.2 stop (scale 3 → 1)",
      "#3 container:api.2 remove (scale 3 → 1) after #2",
    ],
  },
  {
    name: "scaling 1 → 3 creates the next numbers after the dependencies",
    desired: { scale: { api: 3 } },
    observed: UP,
    expected: [
      "#1 container:api.2 create (scale 1 → 3) wait db:service_healthy",
      "#2 container:api.3 create (scale 1 → 3) wait db:service_healthy",
    ],
  },
  {
    name: "new replicas fill the lowest free numbers",
    desired: { scale: { api: 3 } },
    observed: { ...UP, containers: [ctr("db", 1), ctr("api", 2), ctr("web", 1)] },
    expected: [
      "#1 container:api.1 create (scale 1 → 3) wait db:service_healthy",
      "#2 container:api.3 create (scale 1 → 3) wait db:service_healthy",
    ],
  },
  {
    name: "a replica the scheduler cannot place is reported, not created",
    desired: { scale: { web: 2 } },
    observed: UP,
    expected: ["! container:web.2 cannot be placed: node local: host port 8080/tcp already in use"],
  },
  {
    name: "orphans are reported and kept without removeOrphans",
    observed: { ...UP, containers: [...UP.containers, ctr("old", 1)] },
    expected: [
      "! container:old.1 (proj-old-1) is an orphan: service old is not in the stack; --remove-orphans removes it",
    ],
  },
  {
    name: "orphans are stopped and removed with removeOrphans",
    observed: { ...UP, containers: [...UP.containers, ctr("old", 1), ctr("old", 2, { state: "exited" })] },
    opts: { removeOrphans: true },
    expected: [
      "#1 container:old.1 stop (orphan: service old is not in the stack)",
      "#2 container:old.1 remove (orphan: service old is not in the stack) after #1",
      "#3 container:old.2 remove (orphan: service old is not in the stack)",
    ],
  },
  {
    name: "stopped containers of unchanged services are started in dependency order",
    observed: {
      ...UP,
      containers: [ctr("db", 1, { state: "exited" }), ctr("api", 1, { state: "created" }), ctr("web", 1)],
    },
    expected: [
      "#1 container:db.1 start (container is exited)",
      "#2 container:api.1 start (container is created) after #1 wait db:service_healthy",
    ],
  },
  {
    name: "the background loop leaves stopped containers to their restart policy",
    observed: { ...UP, containers: [ctr("db", 1, { state: "exited" }), ctr("api", 1), ctr("web", 1)] },
    opts: { startStopped: false },
    expected: [],
  },
  {
    name: "a depends_on chain orders the whole bring-up, even through a service with nothing to do",
    spec: stackFrom(`
services:
  c: {image: c, depends_on: [b]}
  b: {image: b, depends_on: {a: {condition: service_completed_successfully}}}
  a: {image: a}
`),
    desired: { hash: hashes({ a: 2, c: 2 }) },
    observed: {
      containers: [ctr("a", 1, { state: "exited" }), ctr("b", 1), ctr("c", 1)],
      networks: [{ name: "proj_default" }],
      volumes: [],
    },
    expected: [
      "#1 container:a.1 recreate (config hash changed: a111100 → a222200)",
      "#2 container:c.1 recreate (config hash changed: c111100 → c222200) after #1 wait b:service_started",
    ],
  },
  {
    name: "--force-recreate recreates unchanged containers too",
    observed: UP,
    opts: { forceRecreate: true },
    expected: [
      "#1 container:db.1 recreate (--force-recreate)",
      "#2 container:api.1 recreate (--force-recreate) after #1 wait db:service_healthy",
      "#3 container:web.1 recreate (--force-recreate) after #2 wait api:service_started",
    ],
  },
  {
    name: "--no-recreate keeps a changed container and says so, but still starts it",
    desired: { hash: hashes({ api: 2 }) },
    observed: { ...UP, containers: [ctr("db", 1), ctr("api", 1, { state: "exited" }), ctr("web", 1)] },
    opts: { noRecreate: true, forceRecreate: true },
    expected: [
      "#1 container:api.1 start (container is exited) wait db:service_healthy",
      "! container:api.1 runs an old config (hash api1111, now api2222); --no-recreate keeps it",
    ],
  },
  {
    name: "duplicates left by a crash mid-replacement are removed, keeping the current one",
    desired: { hash: hashes({ api: 2 }) },
    observed: {
      ...UP,
      containers: [
        ctr("db", 1),
        ctr("api", 1),
        ctr("api", 1, { id: "tmp", name: "0123abcd_proj-api-1", configHash: h("api", 2) }),
        ctr("web", 1),
      ],
    },
    expected: [
      "#1 container:api.1 stop (duplicate of replica 1)",
      "#2 container:api.1 remove (duplicate of replica 1) after #1",
      "#3 container:api.1 rename (named 0123abcd_proj-api-1) after #2",
    ],
  },
  {
    name: "a kept container left with a temporary name is renamed before it is started",
    observed: {
      ...UP,
      containers: [
        ctr("db", 1),
        ctr("api", 1, { name: "0123abcd_proj-api-1", state: "exited" }),
        ctr("web", 1),
      ],
    },
    expected: [
      "#1 container:api.1 rename (named 0123abcd_proj-api-1)",
      "#2 container:api.1 start (container is exited) after #1 wait db:service_healthy",
    ],
  },
  {
    name: "start-first rolling update of 3 replicas, one at a time",
    spec: ROLLING("start-first", 1),
    desired: { hash: hashes({ web: 2 }) },
    observed: WEB3,
    expected: [
      "#1 container:web.1 recreate start-first (config hash changed: web1111 → web2222) batch 1",
      "#2 container:web.2 recreate start-first (config hash changed: web1111 → web2222) after #1 batch 2 delay 5000ms",
      "#3 container:web.3 recreate start-first (config hash changed: web1111 → web2222) after #2 batch 3 delay 5000ms",
    ],
  },
  {
    name: "stop-first rolling update in batches of 2",
    spec: ROLLING("stop-first", 2),
    desired: { hash: hashes({ web: 2 }) },
    observed: WEB3,
    expected: [
      "#1 container:web.1 recreate stop-first (config hash changed: web1111 → web2222) batch 1",
      "#2 container:web.2 recreate stop-first (config hash changed: web1111 → web2222) batch 1",
      "#3 container:web.3 recreate stop-first (config hash changed: web1111 → web2222) after #1,#2 batch 2 delay 5000ms",
    ],
  },
  {
    name: "parallelism 0 replaces all replicas in one batch",
    spec: ROLLING("stop-first", 0),
    desired: { hash: hashes({ web: 2 }) },
    observed: WEB3,
    expected: [
      "#1 container:web.1 recreate stop-first (config hash changed: web1111 → web2222) batch 1",
      "#2 container:web.2 recreate stop-first (config hash changed: web1111 → web2222) batch 1",
      "#3 container:web.3 recreate stop-first (config hash changed: web1111 → web2222) batch 1",
    ],
  },
  {
    name: "start-first falls back to stop-first when fixed host ports would clash on one node",
    spec: stackFrom(`
services:
  web:
    image: nginx
    ports: ["127.0.0.1:8080:80"]
    deploy: {update_config: {order: start-first}}
`),
    desired: { hash: hashes({ web: 2 }) },
    observed: { containers: [ctr("web", 1)], networks: [{ name: "proj_default" }], volumes: [] },
    expected: [
      "#1 container:web.1 recreate stop-first (config hash changed: web1111 → web2222) batch 1",
      "! service web publishes fixed host ports, so its replicas are replaced stop-first, not start-first",
    ],
  },
  {
    name: "a global service gets one replica on every node that qualifies, numbered in node order",
    spec: stackFrom(`
services:
  agent:
    image: agent
    deploy: {mode: global, placement: {constraints: [node.role==worker]}}
`),
    observed: {
      containers: [ctr("agent", 1, { node: "w1" })],
      networks: [{ name: "proj_default" }],
      volumes: [],
    },
    opts: {
      nodes: [
        { id: "m1", hostname: "m1", role: "manager" },
        { id: "w1", hostname: "w1", role: "worker" },
        { id: "w2", hostname: "w2", role: "worker" },
        { id: "w3", hostname: "w3", role: "worker" },
      ],
    },
    expected: [
      "#1 container:agent.2 create (scale 1 → 3) on w2",
      "#2 container:agent.3 create (scale 1 → 3) on w3",
    ],
  },
  {
    name: "up of one service brings up its dependencies and leaves the others alone",
    desired: { services: ["api"], hash: hashes({ web: 2 }) },
    observed: EMPTY,
    expected: [
      "#1 network:proj_default create-network (missing)",
      "#2 volume:proj_data create-volume (missing)",
      "#3 container:db.1 create (missing) after #1,#2",
      "#4 container:api.1 create (missing) after #1,#3 wait db:service_healthy",
    ],
  },
];

const ID1 = `sha256:${"1".repeat(64)}`;
const ID2 = `sha256:${"2".repeat(64)}`;
/** The store's facts: nginx (web) now resolves to ID2, the other images to ID1. */
const IMAGES = new Map([
  ["postgres", { id: ID1, volumes: [] }],
  ["api", { id: ID1, volumes: [] }],
  ["nginx", { id: ID2, volumes: [] }],
]);
const withImage = (c: ObservedContainer): ObservedContainer => ({ ...c, imageId: ID1 });
const UP_IMAGES: ObservedStack = { ...UP, containers: UP.containers.map(withImage) };

/** `data` is anonymous in the file, `/cache` an image VOLUME, `db` a named volume. */
const VOLUMES = stackFrom(`
services:
  app:
    image: app
    volumes: ["/data", "db:/db"]
volumes: {db: {}}
`);
const VOLUME_IMAGES = new Map([["app", { id: ID1, volumes: ["/cache", "/data"] }]]);
const APP_WITH_VOLUMES: ObservedStack = {
  containers: [
    ctr("app", 1, {
      imageId: ID1,
      volumes: [
        { name: "anon-data", target: "/data" },
        { name: "proj_db", target: "/db" },
        { name: "anon-cache", target: "/cache" },
      ],
    }),
  ],
  networks: [{ name: "proj_default" }],
  volumes: [{ name: "proj_db", key: "db" }],
};

const imageCases: Case[] = [
  {
    name: "a container whose image changed under the same tag is recreated, and only that one",
    desired: { images: IMAGES },
    observed: UP_IMAGES,
    expected: [
      `#1 container:web.1 recreate (image nginx changed: sha256:111111111111 → sha256:222222222222) wait api:service_started`,
    ],
  },
  {
    name: "containers running the image their tag resolves to are left alone",
    desired: { images: new Map([...IMAGES, ["nginx", { id: ID1, volumes: [] }]]) },
    observed: UP_IMAGES,
    expected: [],
  },
  {
    name: "an image the store does not have, or a container whose image id is unknown, is not judged",
    desired: { images: new Map([["nginx", { id: ID2, volumes: [] }]]) },
    observed: UP,
    expected: [],
  },
  {
    name: "a changed config is the reason given when the image changed too",
    desired: { images: IMAGES, hash: hashes({ web: 2 }) },
    observed: UP_IMAGES,
    expected: [
      "#1 container:web.1 recreate (config hash changed: web1111 → web2222) wait api:service_started",
    ],
  },
  {
    name: "--no-recreate keeps a container with an old image and says so",
    desired: { images: IMAGES },
    observed: UP_IMAGES,
    opts: { noRecreate: true },
    expected: [
      "! container:web.1 runs an old image of nginx (sha256:111111111111, now sha256:222222222222); --no-recreate keeps it",
    ],
  },
  {
    name: "background passes leave an image changed under its tag to the next up",
    desired: { images: IMAGES },
    observed: UP_IMAGES,
    opts: { recreateChangedImages: false, startStopped: false },
    expected: [],
  },
  {
    name: "a recreated container's anonymous volumes (file entries and image VOLUMEs) are kept, named ones are not listed",
    spec: VOLUMES,
    desired: { images: VOLUME_IMAGES, hash: hashes({ app: 2 }) },
    observed: APP_WITH_VOLUMES,
    expected: [
      "#1 container:app.1 recreate (config hash changed: app1111 → app2222) keep-volumes /data,/cache",
    ],
  },
  {
    name: "--renew-anon-volumes gives the new container fresh ones and removes the old with its container",
    spec: VOLUMES,
    desired: { images: VOLUME_IMAGES, hash: hashes({ app: 2 }) },
    observed: APP_WITH_VOLUMES,
    opts: { renewAnonVolumes: true },
    expected: ["#1 container:app.1 recreate (config hash changed: app1111 → app2222) renew-volumes"],
  },
  {
    name: "--renew-anon-volumes alone recreates nothing",
    spec: VOLUMES,
    desired: { images: VOLUME_IMAGES },
    observed: APP_WITH_VOLUMES,
    opts: { renewAnonVolumes: true },
    expected: [],
  },
  {
    name: "a dead container's replacement keeps its anonymous volumes; one that no longer is anonymous is left",
    spec: VOLUMES,
    desired: { images: new Map([["app", { id: ID1, volumes: [] }]]) },
    observed: {
      ...APP_WITH_VOLUMES,
      containers: APP_WITH_VOLUMES.containers.map((c) => ({ ...c, state: "dead" as const })),
    },
    expected: ["#1 container:app.1 recreate (container is dead) keep-volumes /data"],
  },
  {
    name: "an image change under start-first keeps the volumes too (both containers share them meanwhile)",
    spec: stackFrom(`
services:
  app:
    image: app
    volumes: ["/data"]
    deploy: {update_config: {order: start-first}}
`),
    desired: { images: new Map([["app", { id: ID2, volumes: [] }]]) },
    observed: APP_WITH_VOLUMES,
    expected: [
      "#1 container:app.1 recreate start-first (image app changed: sha256:111111111111 → sha256:222222222222) batch 1 keep-volumes /data",
    ],
  },
];

describe("plan", () => {
  it.each([...cases, ...imageCases])("$name", ({ spec, desired, observed, opts, expected }) => {
    const d = desiredStack(spec ?? APP, { hash: hashes(), ...desired });
    expect(plan(d, observed, opts).toString().split("\n").filter(Boolean)).toEqual(expected);
  });

  it("carries what the applier needs on each operation", () => {
    const ops = plan(desiredStack(APP, { hash: hashes({ api: 2 }) }), {
      ...UP,
      containers: [ctr("db", 1), ctr("api", 1)],
    }).operations;
    expect(ops).toEqual([
      {
        id: 1,
        kind: "recreate",
        target: "container:api.1",
        reason: "config hash changed: api1111 → api2222",
        after: [],
        service: "api",
        replica: 1,
        container: { id: "api1id", name: "proj-api-1" },
        waitFor: [{ service: "db", condition: "service_healthy", required: true, restart: false }],
      },
      {
        id: 2,
        kind: "create",
        target: "container:web.1",
        reason: "missing",
        after: [1],
        service: "web",
        replica: 1,
        name: "proj-web-1",
        node: "local",
        waitFor: [{ service: "api", condition: "service_started", required: true, restart: false }],
      },
    ]);
  });

  it("gives the applier the volumes to take over, or tells it to remove the old ones", () => {
    const d = desiredStack(VOLUMES, { hash: hashes({ app: 2 }), images: VOLUME_IMAGES });
    const [kept] = plan(d, APP_WITH_VOLUMES).operations;
    expect(kept?.inheritVolumes).toEqual([
      { name: "anon-data", target: "/data" },
      { name: "anon-cache", target: "/cache" },
    ]);
    expect(kept?.removeVolumes).toBeUndefined();
    const [renewed] = plan(d, APP_WITH_VOLUMES, { renewAnonVolumes: true }).operations;
    expect(renewed?.inheritVolumes).toBeUndefined();
    expect(renewed?.removeVolumes).toBe(true);
  });

  it("is idempotent: applying a fresh-up plan's result yields an empty plan", () => {
    const d = desiredStack(APP, { hash: hashes(), scale: { api: 2 } });
    const creates = plan(d, EMPTY).operations.filter((op) => op.kind === "create");
    const after: ObservedStack = {
      containers: creates.map((op) => ctr(op.service ?? "", op.replica ?? 0)),
      networks: [{ name: "proj_default" }],
      volumes: [{ name: "proj_data" }],
    };
    expect(plan(d, after).isEmpty).toBe(true);
    expect(plan(d, after).toString()).toBe("");
  });
});

describe("planDown", () => {
  const downCases: { name: string; observed: ObservedStack; opts?: DownOptions; expected: string[] }[] = [
    {
      name: "stops dependents before their dependencies, removes containers, then networks; keeps volumes",
      observed: {
        ...UP,
        containers: [ctr("db", 1), ctr("api", 1), ctr("api", 2, { state: "exited" }), ctr("web", 1)],
      },
      expected: [
        "#1 container:web.1 stop (stack down)",
        "#2 container:web.1 remove (stack down) after #1",
        "#3 container:api.2 remove (stack down) after #1",
        "#4 container:api.1 stop (stack down) after #1",
        "#5 container:api.1 remove (stack down) after #4",
        "#6 container:db.1 stop (stack down) after #3,#4",
        "#7 container:db.1 remove (stack down) after #6",
        "#8 network:proj_default remove-network (stack down) after #2,#3,#5,#7",
      ],
    },
    {
      name: "with volumes, also removes named volumes and the containers' anonymous ones",
      observed: UP,
      opts: { volumes: true },
      expected: [
        "#1 container:web.1 stop (stack down -v)",
        "#2 container:web.1 remove (stack down -v) after #1",
        "#3 container:api.1 stop (stack down -v) after #1",
        "#4 container:api.1 remove (stack down -v) after #3",
        "#5 container:db.1 stop (stack down -v) after #3",
        "#6 container:db.1 remove (stack down -v) after #5",
        "#7 network:proj_default remove-network (stack down -v) after #2,#4,#6",
        "#8 volume:proj_data remove-volume (stack down -v) after #2,#4,#6",
      ],
    },
    {
      name: "keeps orphans (and networks only they may use) unless asked",
      observed: {
        containers: [ctr("old", 1)],
        networks: [{ name: "proj_default" }, { name: "proj_legacy" }],
        volumes: [],
      },
      expected: [
        "#1 network:proj_default remove-network (stack down)",
        "! container:old.1 (proj-old-1) is an orphan: service old is not in the stack; --remove-orphans removes it",
      ],
    },
    {
      name: "removes orphans and their networks with removeOrphans",
      observed: {
        containers: [ctr("old", 1)],
        networks: [{ name: "proj_default" }, { name: "proj_legacy" }],
        volumes: [],
      },
      opts: { removeOrphans: true },
      expected: [
        "#1 container:old.1 stop (orphan: service old is not in the stack)",
        "#2 container:old.1 remove (orphan: service old is not in the stack) after #1",
        "#3 network:proj_default remove-network (stack down) after #2",
        "#4 network:proj_legacy remove-network (stack down) after #2",
      ],
    },
    {
      name: "has nothing to do for a stack that is not there",
      observed: EMPTY,
      opts: { volumes: true },
      expected: [],
    },
  ];

  it.each(downCases)("$name", ({ observed, opts, expected }) => {
    const d = desiredStack(APP, { hash: hashes() });
    expect(planDown(d, observed, opts).toString().split("\n").filter(Boolean)).toEqual(expected);
  });

  it("marks removals to take anonymous volumes with them under -v", () => {
    const ops = planDown(desiredStack(APP, { hash: hashes() }), UP, { volumes: true }).operations;
    expect(ops.filter((op) => op.kind === "remove").every((op) => op.removeVolumes === true)).toBe(true);
  });
});
