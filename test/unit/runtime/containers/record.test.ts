/**
 * The image store's in-use check: the image ids the containers' records name, read once per check.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { imagesInUse, imageUseCheck, RECORD_FILE } from "../../../../src/runtime/containers/record.js";

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "tsstack-record-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function addRecord(id: string, imageId: string): void {
  mkdirSync(join(root, "containers", id), { recursive: true });
  writeFileSync(join(root, "containers", id, RECORD_FILE), JSON.stringify({ id, imageId }));
}

describe("images in use", () => {
  it("are the image ids of every container record; unreadable records and stray files are skipped", () => {
    expect(imagesInUse(root)).toEqual(new Set());
    addRecord("a", "sha256:aaa");
    addRecord("b", "sha256:bbb");
    mkdirSync(join(root, "containers", "broken"));
    writeFileSync(join(root, "containers", "broken", RECORD_FILE), "{ not json");
    expect(imagesInUse(root)).toEqual(new Set(["sha256:aaa", "sha256:bbb"]));
  });

  it("a check reads the records once, at its first question", () => {
    addRecord("a", "sha256:aaa");
    const check = imageUseCheck(root);
    addRecord("b", "sha256:bbb"); // before the first question: seen
    expect(check("sha256:aaa")).toBe(true);
    expect(check("sha256:bbb")).toBe(true);
    addRecord("c", "sha256:ccc"); // after it: a new check sees it, this one does not
    expect(check("sha256:ccc")).toBe(false);
    expect(imageUseCheck(root)("sha256:ccc")).toBe(true);
  });
});
