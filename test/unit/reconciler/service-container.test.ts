import { describe, expect, it } from "vitest";
import type { ContainerCreateOptions } from "../../../src/runtime/runtime.js";
import {
  containerName,
  containerOptionsFor,
  networksByPriority,
  untranslatedServiceKeys,
} from "../../../src/reconciler/service-container.js";
import { stackFrom } from "./stack.js";

const FULL = stackFrom(`
services:
  web:
    image: nginx:1.27
    command: ["nginx", "-g", "daemon off;"]
    entrypoint: /docker-entrypoint.sh
    environment: {B: "2", A: "1"}
    working_dir: /srv
    user: "101:101"
    hostname: web
    labels: {tier: front, com.docker.compose.service: spoofed}
    ports:
      - "127.0.0.1:8080:80"
      - "8443:443/tcp"
      - "9000-9001:9000-9001/udp"
      - "3000"
    expose: ["7000-7001", "7100/udp"]
    volumes:
      - ./html:/usr/share/nginx/html:ro
      - data:/data
      - type: tmpfs
        target: /cache
        tmpfs: {size: 64m}
      - /anon
      - type: bind
        source: ./z
        target: /z
        bind: {selinux: z}
    networks:
      front: {aliases: [www], ipv4_address: 172.20.0.10}
      back: {priority: 10}
    restart: on-failure:3
    mem_limit: 256m
    cpus: 0.5
    pids_limit: 100
    cpu_shares: 512
    cpuset: "0-1"
    read_only: true
    tmpfs: ["/run:size=1m", /tmp]
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    sysctls: {net.core.somaxconn: 1024}
    ulimits: {nproc: 65535, nofile: {soft: 1024, hard: 2048}}
    devices: ["/dev/fuse"]
    init: true
    stop_signal: SIGQUIT
    stop_grace_period: 1m30s
    shm_size: 64m
    security_opt: [no-new-privileges:true]
    dns: [8.8.8.8]
    extra_hosts: ["db.local:10.0.0.2"]
    tty: true
    stdin_open: true
    healthcheck:
      test: curl -f http://localhost/
      interval: 10s
      timeout: 2s
      retries: 5
      start_period: 30s
      start_interval: 1s
    depends_on:
      db: {condition: service_healthy, restart: true}
  db:
    image: postgres:16
    restart: "no"
    deploy:
      restart_policy: {condition: any, max_attempts: 3}
      resources: {limits: {memory: 1g, cpus: "1.5", pids: 50}}
    volumes: [pgdata:/var/lib/postgresql/data, shared:/shared]
  side:
    image: busybox
    network_mode: service:db
  host:
    image: busybox
    network_mode: host
    container_name: fixed
  built:
    build: .
    restart: unless-stopped
    healthcheck: {disable: true}
networks: {front: {}, back: {}}
volumes:
  data: {}
  pgdata: {name: pg-data}
  shared: {external: true}
`);

const LABELS = (service: string, n: number, dependsOn = ""): Record<string, string> => ({
  "com.docker.compose.project": "proj",
  "com.docker.compose.service": service,
  "com.docker.compose.container-number": String(n),
  "com.docker.compose.config-hash": "h",
  "com.docker.compose.oneoff": "False",
  "com.docker.compose.depends_on": dependsOn,
});

const cases: { name: string; service: string; replica: number; expected: ContainerCreateOptions }[] = [
  {
    name: "a service using most fields becomes compose's create body",
    service: "web",
    replica: 2,
    expected: {
      name: "proj-web-2",
      Image: "nginx:1.27",
      Cmd: ["nginx", "-g", "daemon off;"],
      Entrypoint: ["/docker-entrypoint.sh"],
      Env: ["A=1", "B=2"],
      WorkingDir: "/srv",
      User: "101:101",
      Hostname: "web",
      Labels: {
        tier: "front",
        ...LABELS("web", 2, "db:service_healthy:true"),
        "com.docker.compose.project.working_dir": "/proj",
        "com.docker.compose.project.config_files": "/proj/stack.yml",
        "com.docker.compose.image": "sha256:abc",
        "com.docker.compose.version": "0.1.0",
      },
      Tty: true,
      OpenStdin: true,
      StopSignal: "SIGQUIT",
      StopTimeout: 90,
      Healthcheck: {
        Test: ["CMD-SHELL", "curl -f http://localhost/"],
        Interval: 10e9,
        Timeout: 2e9,
        Retries: 5,
        StartPeriod: 30e9,
        StartInterval: 1e9,
      },
      ExposedPorts: {
        "7000/tcp": {},
        "7001/tcp": {},
        "7100/udp": {},
        "80/tcp": {},
        "443/tcp": {},
        "9000/udp": {},
        "9001/udp": {},
        "3000/tcp": {},
      },
      NetworkingConfig: {
        EndpointsConfig: {
          proj_back: { Aliases: ["proj-web-2", "web"] },
          proj_front: {
            Aliases: ["proj-web-2", "web", "www"],
            IPAMConfig: { IPv4Address: "172.20.0.10" },
          },
        },
      },
      HostConfig: {
        NetworkMode: "proj_back",
        PortBindings: {
          "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }],
          "443/tcp": [{ HostIp: "", HostPort: "8443" }],
          "9000/udp": [{ HostIp: "", HostPort: "9000" }],
          "9001/udp": [{ HostIp: "", HostPort: "9001" }],
          "3000/tcp": [{ HostIp: "", HostPort: "" }],
        },
        Mounts: [
          {
            Type: "bind",
            Source: "/proj/html",
            Target: "/usr/share/nginx/html",
            ReadOnly: true,
            BindOptions: { CreateMountpoint: true },
          },
          { Type: "volume", Source: "proj_data", Target: "/data" },
          { Type: "tmpfs", Target: "/cache", TmpfsOptions: { SizeBytes: 64 * 1024 * 1024 } },
          { Type: "volume", Target: "/anon" },
        ],
        Binds: ["/proj/z:/z:rw,z"],
        RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 },
        Memory: 256 * 1024 * 1024,
        NanoCpus: 500_000_000,
        CpuShares: 512,
        CpusetCpus: "0-1",
        PidsLimit: 100,
        ReadonlyRootfs: true,
        Tmpfs: { "/run": "size=1m", "/tmp": "" },
        CapAdd: ["NET_ADMIN"],
        CapDrop: ["ALL"],
        Sysctls: { "net.core.somaxconn": "1024" },
        Ulimits: [
          { Name: "nofile", Soft: 1024, Hard: 2048 },
          { Name: "nproc", Soft: 65535, Hard: 65535 },
        ],
        Devices: [{ PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm" }],
        Init: true,
        ShmSize: 64 * 1024 * 1024,
        SecurityOpt: ["no-new-privileges:true"],
        Dns: ["8.8.8.8"],
        ExtraHosts: ["db.local:10.0.0.2"],
      },
    },
  },
  {
    name: "deploy.restart_policy and deploy.resources.limits win over restart and the service-level limits",
    service: "db",
    replica: 1,
    expected: {
      name: "proj-db-1",
      Image: "postgres:16",
      Labels: LABELS("db", 1),
      NetworkingConfig: { EndpointsConfig: { proj_default: { Aliases: ["proj-db-1", "db"] } } },
      HostConfig: {
        NetworkMode: "proj_default",
        Mounts: [
          { Type: "volume", Source: "pg-data", Target: "/var/lib/postgresql/data" },
          { Type: "volume", Source: "shared", Target: "/shared" },
        ],
        // `any` is the engine's `always`; a retry count is only sent with on-failure.
        RestartPolicy: { Name: "always" },
        Memory: 1024 * 1024 * 1024,
        NanoCpus: 1_500_000_000,
        PidsLimit: 50,
      },
    },
  },
  {
    name: "network_mode service:x joins the container of x's first replica and sets no endpoints",
    service: "side",
    replica: 1,
    expected: {
      name: "proj-side-1",
      Image: "busybox",
      Labels: LABELS("side", 1, "db:service_started:true"),
      HostConfig: { NetworkMode: "container:proj-db-1" },
    },
  },
  {
    name: "network_mode host and container_name are used as they are",
    service: "host",
    replica: 1,
    expected: {
      name: "fixed",
      Image: "busybox",
      Labels: LABELS("host", 1),
      HostConfig: { NetworkMode: "host" },
    },
  },
  {
    name: "a built service runs <project>-<service> and a disabled healthcheck is sent as NONE",
    service: "built",
    replica: 1,
    expected: {
      name: "proj-built-1",
      Image: "proj-built",
      Labels: LABELS("built", 1),
      Healthcheck: { Test: ["NONE"] },
      NetworkingConfig: { EndpointsConfig: { proj_default: { Aliases: ["proj-built-1", "built"] } } },
      HostConfig: { NetworkMode: "proj_default", RestartPolicy: { Name: "unless-stopped" } },
    },
  },
];

describe("containerOptionsFor", () => {
  it.each(cases)("$name", ({ service, replica, expected }) => {
    const extra =
      service === "web"
        ? {
            workingDir: "/proj",
            configFiles: ["/proj/stack.yml"],
            imageDigest: "sha256:abc",
            version: "0.1.0",
          }
        : {};
    expect(containerOptionsFor(FULL, service, replica, { configHash: "h", ...extra })).toEqual(expected);
  });

  it("names networks, volumes and joined containers through the caller's functions", () => {
    const body = containerOptionsFor(FULL, "db", 1, {
      configHash: "h",
      networkNames: (key) => `t1-${key}`,
      volumeNames: (key) => `v-${key}`,
    });
    expect(body.HostConfig?.NetworkMode).toBe("t1-default");
    expect(Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {})).toEqual(["t1-default"]);
    expect(body.HostConfig?.Mounts?.map((m) => m.Source)).toEqual(["v-pgdata", "v-shared"]);
    const side = containerOptionsFor(FULL, "side", 1, { configHash: "h", serviceContainer: () => "abc123" });
    expect(side.HostConfig?.NetworkMode).toBe("container:abc123");
  });

  it("leaves the service name and network aliases out when network aliases are off (run)", () => {
    const body = containerOptionsFor(FULL, "web", 1, { configHash: "h", useNetworkAliases: false });
    expect(body.NetworkingConfig?.EndpointsConfig?.["proj_front"]?.Aliases).toEqual(["proj-web-1"]);
  });

  it("mounts inherited volumes where the container would get anonymous ones, keeping each entry's options", () => {
    const spec = stackFrom(`
services:
  app:
    image: app
    volumes:
      - {type: volume, target: /data/, read_only: true}
      - "/fresh"
      - "db:/db"
volumes: {db: {}}
`);
    const body = containerOptionsFor(spec, "app", 1, {
      configHash: "h",
      inheritedVolumes: new Map([
        ["/data", "anon-data"],
        ["/db", "not-used-for-a-named-volume"],
        ["/cache", "anon-cache"],
      ]),
    });
    expect(body.HostConfig?.Mounts).toEqual([
      { Type: "volume", Source: "anon-data", Target: "/data/", ReadOnly: true },
      { Type: "volume", Target: "/fresh" },
      { Type: "volume", Source: "proj_db", Target: "/db" },
      // An image VOLUME nothing in the file mounts.
      { Type: "volume", Source: "anon-cache", Target: "/cache" },
    ]);
  });

  it("mounts file-backed secrets and configs read-only at their default targets", () => {
    const spec = stackFrom(`
services:
  app:
    image: app
    secrets: [token, {source: cert, target: tls.pem}]
    configs: [conf]
secrets:
  token: {file: ./token.txt}
  cert: {file: /etc/cert.pem}
  fromenv: {environment: HOME}
configs:
  conf: {file: ./app.conf}
`);
    expect(containerOptionsFor(spec, "app", 1, { configHash: "h" }).HostConfig?.Mounts).toEqual([
      { Type: "bind", Source: "/proj/token.txt", Target: "/run/secrets/token", ReadOnly: true },
      { Type: "bind", Source: "/etc/cert.pem", Target: "/run/secrets/tls.pem", ReadOnly: true },
      { Type: "bind", Source: "/proj/app.conf", Target: "/conf", ReadOnly: true },
    ]);
  });

  it("refuses a service the stack does not have", () => {
    expect(() => containerOptionsFor(FULL, "nope", 1, { configHash: "h" })).toThrow(
      /service "nope" of stack "proj".*no service "nope"/,
    );
  });
});

describe("helpers", () => {
  it("orders networks by priority, then by key", () => {
    const svc = FULL.services["web"];
    expect(svc && networksByPriority(svc)).toEqual(["back", "front"]);
  });

  it("names containers <project>-<service>-<n> unless container_name is set", () => {
    expect(containerName(FULL, "web", 3)).toBe("proj-web-3");
    expect(containerName(FULL, "host", 1)).toBe("fixed");
  });

  it("lists the service keys the create body cannot carry yet", () => {
    const spec = stackFrom(`
services:
  app: {image: app, ipc: host, oom_score_adj: 100, logging: {driver: none}}
`);
    const svc = spec.services["app"];
    expect(svc && untranslatedServiceKeys(svc).sort()).toEqual(["ipc", "logging", "oom_score_adj"]);
  });
});
