/**
 * What the embedded engine asks of networking (src/network) and volumes (src/volumes) around a
 * container's life. The engine calls these at fixed points and makes no network or volume decisions
 * itself: `validate` at create (a bad config never becomes a container), `setUp`/`mountsFor` at each
 * start after the rootfs is mounted and before `runc create`, `tearDown` after each exit and at
 * removal (idempotent), `restore` when the engine reopens with containers still running.
 */
import { TsstackError } from "../common/errors.js";
import type { SpecMount } from "./containers/oci-spec.js";
import type { ContainerCreateOptions, ContainerInspect, MountPoint } from "./runtime.js";

export interface ContainerContext {
  readonly id: string;
  readonly name: string;
  readonly hostname: string;
  readonly config: Omit<ContainerCreateOptions, "name">;
  /** Host path of the mounted root filesystem (only for setUp/mountsFor). */
  readonly rootfs: string;
  /** The container's own state directory (for generated files such as resolv.conf). */
  readonly dir: string;
  /** Host pid of the container's init (only for restore). */
  readonly pid?: number;
  /** Paths the image declares as VOLUME (Docker gives each one not otherwise mounted a volume). */
  readonly imageVolumes?: readonly string[];
}

export interface NetworkSetup {
  /** Network namespace to join; undefined with `hostNetwork` false means a new, empty one (`none`). */
  readonly netnsPath?: string;
  /** Share the host's network namespace (`network_mode: host`). */
  readonly hostNetwork?: boolean;
  /** Contents of the container's /etc/resolv.conf and /etc/hosts; the engine writes and mounts them. */
  readonly resolvConf?: string;
  readonly hosts?: string;
  /** What inspect shows. */
  readonly settings: ContainerInspect["NetworkSettings"];
}

export interface ContainerNetworking {
  validate(ctx: Omit<ContainerContext, "rootfs">): Promise<void>;
  setUp(ctx: ContainerContext): Promise<NetworkSetup>;
  tearDown(ctx: Omit<ContainerContext, "rootfs">): Promise<void>;
  restore(ctx: Omit<ContainerContext, "rootfs">): Promise<NetworkSetup | undefined>;
  /** Ports for `ps` (Docker's summary form). */
  ports?(id: string): { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
}

export interface ContainerVolumes {
  validate(ctx: Omit<ContainerContext, "rootfs">): Promise<void>;
  /** OCI mounts for the container (binds, named volumes, tmpfs), after any copy-up into new volumes. */
  mountsFor(ctx: ContainerContext): Promise<{ mounts: SpecMount[]; points: MountPoint[] }>;
  tearDown(ctx: Omit<ContainerContext, "rootfs">): Promise<void>;
  /**
   * The container was removed (after its last `tearDown`): its references to volumes go, and with
   * `removeAnonymous` (`rm -v`, `--rm`) its anonymous volumes. Optional: stateless implementations
   * omit it.
   */
  containerRemoved?(
    ctx: Omit<ContainerContext, "rootfs">,
    opts: { readonly removeAnonymous: boolean },
  ): Promise<void>;
}

/** No networking beyond an empty namespace with loopback (`network_mode: none`). */
export const noNetworking: ContainerNetworking = {
  validate: (ctx) => {
    const mode = ctx.config.HostConfig?.NetworkMode ?? "";
    if (!["", "none", "default"].includes(mode))
      return Promise.reject(
        new TsstackError(
          "container/invalid-config",
          `creating container ${ctx.name}: network mode "${mode}" needs the engine's networking (only none is available)`,
        ),
      );
    return Promise.resolve();
  },
  setUp: () =>
    Promise.resolve({
      settings: { Networks: {}, Ports: {}, IPAddress: "", Gateway: "", MacAddress: "" },
    }),
  tearDown: () => Promise.resolve(),
  restore: () => Promise.resolve(undefined),
};

/** No volumes: only the mounts the container config itself makes (tmpfs). */
export const noVolumes: ContainerVolumes = {
  validate: (ctx) => {
    const h = ctx.config.HostConfig as { Binds?: unknown[]; Mounts?: unknown[] } | undefined;
    if ((h?.Binds?.length ?? 0) > 0 || (h?.Mounts?.length ?? 0) > 0)
      return Promise.reject(
        new TsstackError(
          "container/invalid-config",
          `creating container ${ctx.name}: volumes and binds need the engine's volume support`,
        ),
      );
    return Promise.resolve();
  },
  mountsFor: () => Promise.resolve({ mounts: [], points: [] }),
  tearDown: () => Promise.resolve(),
};
