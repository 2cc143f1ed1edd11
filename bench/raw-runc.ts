/**
 * The floor the benchmarks compare against: runc alone, on a plain copy of an image's layers (no
 * overlay, no supervisor, no engine), with the config.json tsstack would generate for it.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { buildRuntimeSpec } from "../src/runtime/containers/oci-spec.js";
import { ImageStore } from "../src/runtime/images/store.js";
import type { ImageConfig } from "../src/runtime/images/types.js";

export const RUNC = ["/usr/sbin/runc", "/usr/bin/runc"].find((p) => existsSync(p)) ?? "runc";

/** Copies the layers of `image` (from the engine root `root`) into `rootfs`; returns its config. */
export async function copyImageRootfs(root: string, image: string, rootfs: string): Promise<ImageConfig> {
  const store = await ImageStore.open(root);
  try {
    const record = await store.resolve(image);
    if (record === undefined) throw new Error(`bench image ${image} missing from ${root}`);
    mkdirSync(rootfs, { recursive: true });
    for (const snap of store.snapshotPaths(record))
      cpSync(snap, rootfs, { recursive: true, verbatimSymlinks: true });
    return JSON.parse((await store.readBlob(record.id)).toString()) as ImageConfig;
  } finally {
    await store.close();
  }
}

/** Writes `<bundle>/config.json` running `cmd` on `rootfs` (an absolute path) in cgroup `cgroupsPath`. */
export function writeRawBundle(
  bundle: string,
  opts: {
    readonly image: ImageConfig;
    readonly rootfs: string;
    readonly cmd: readonly string[];
    readonly cgroupsPath: string;
  },
): void {
  mkdirSync(bundle, { recursive: true });
  const spec = buildRuntimeSpec(
    opts.image,
    { cmd: [...opts.cmd] },
    {
      rootfs: opts.rootfs,
      hostname: "bench",
      passwd: readFileSync(join(opts.rootfs, "etc/passwd"), "utf8"),
      kernelVersion: release(),
      cgroupsPath: opts.cgroupsPath,
    },
  );
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
}
