/**
 * Overlay mounts for the tests that mount real overlayfs (as root): every mount a test makes is
 * unmounted after it, and no mount may be left under the test's temp dirs.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { mountOverlay, unmountOverlay } from "../../src/runtime/containers/rootfs.js";

export interface OverlayPaths {
  readonly upper: string;
  readonly work: string;
  readonly target: string;
}

export interface OverlayMounts {
  /** A temp dir no mount may outlive. */
  readonly testDir: () => Promise<string>;
  /** Mounts an overlay of `lowerdirs` under `dir` (dir/upper, dir/work, dir/merged). */
  readonly mount: (dir: string, lowerdirs: readonly string[]) => Promise<OverlayPaths>;
  /** Unmounts `target` after the test: a mount the test made itself. */
  readonly unmountAfter: (target: string) => void;
}

/**
 * Call at the top level after `useTmpDirs` (whose `tmp` it takes): vitest runs after-hooks in
 * reverse, so this unmounts before the temp directories are removed.
 */
export function useOverlayMounts(tmp: () => Promise<string>): OverlayMounts {
  /** Mount points made by a test, and the temp dirs no mount may outlive. */
  const mounted: string[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const target of mounted.splice(0).reverse()) await unmountOverlay(target);
    const info = await readFile("/proc/self/mountinfo", "utf8");
    const left = dirs.splice(0).filter((d) => info.includes(` ${d}/`));
    expect(left, "mounts left under the test's temp dirs").toEqual([]);
  });
  return {
    testDir: async () => {
      const dir = await tmp();
      dirs.push(dir);
      return dir;
    },
    mount: async (dir, lowerdirs) => {
      const paths = { upper: join(dir, "upper"), work: join(dir, "work"), target: join(dir, "merged") };
      await mountOverlay({ lowerdirs, ...paths });
      mounted.push(paths.target);
      return paths;
    },
    unmountAfter: (target) => {
      mounted.push(target);
    },
  };
}
