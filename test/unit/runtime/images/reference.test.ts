import { describe, expect, it } from "vitest";

import { TsstackError } from "../../../../src/common/errors.js";
import {
  familiarName,
  formatReference,
  normalizeReference,
  parseReference,
} from "../../../../src/runtime/images/reference.js";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference: valid references", () => {
  const cases: [input: string, registry: string, repository: string, tag?: string, digest?: string][] = [
    ["busybox", "docker.io", "library/busybox", "latest"],
    ["busybox:1.36", "docker.io", "library/busybox", "1.36"],
    ["library/busybox", "docker.io", "library/busybox", "latest"],
    ["docker.io/busybox", "docker.io", "library/busybox", "latest"],
    ["index.docker.io/busybox:x", "docker.io", "library/busybox", "x"],
    ["docker.io/library/busybox", "docker.io", "library/busybox", "latest"],
    ["user/app", "docker.io", "user/app", "latest"],
    ["user/team/app:v1", "docker.io", "user/team/app", "v1"],
    ["localhost/app", "localhost", "app", "latest"],
    ["localhost:5000/app:1.0", "localhost:5000", "app", "1.0"],
    ["localhost:5000/team/app", "localhost:5000", "team/app", "latest"],
    ["registry.example.com/app", "registry.example.com", "app", "latest"],
    ["registry.example.com:443/a/b/c:tag_1", "registry.example.com:443", "a/b/c", "tag_1"],
    ["127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest"],
    ["[::1]:5000/x:y", "[::1]:5000", "x", "y"],
    // An uppercase first component is a host, as in distribution/reference.
    ["Registry/app", "Registry", "app", "latest"],
    // Without a slash, `localhost:5000` is the official image `localhost` with tag `5000`.
    ["localhost:5000", "docker.io", "library/localhost", "5000"],
    ["a-b_c__d---e/f.g", "docker.io", "a-b_c__d---e/f.g", "latest"],

    [`busybox@${D}`, "docker.io", "library/busybox", undefined, D],
    [`busybox:1.36@${D}`, "docker.io", "library/busybox", "1.36", D],
    [`localhost:5000/app@${D}`, "localhost:5000", "app", undefined, D],
    ["app:_underscore-start.ok", "docker.io", "library/app", "_underscore-start.ok"],
    [`app:${"t".repeat(128)}`, "docker.io", "library/app", "t".repeat(128)],
  ];
  it.each(cases)("parses %s", (input, registry, repository, tag, digest) => {
    const ref = parseReference(input);
    expect(ref).toEqual({
      registry,
      repository,
      ...(tag !== undefined ? { tag } : {}),
      ...(digest !== undefined ? { digest } : {}),
    });
  });
});

describe("parseReference: invalid references", () => {
  const cases: [input: string, messagePart: string][] = [
    ["", "empty"],
    ["Busybox", "must be lowercase"],
    ["user/App", "must be lowercase"],
    ["localhost:5000/App", "must be lowercase"],
    ["bad name", "whitespace"],
    ["busybox:", "tag"],
    ["busybox:-x", "tag"],
    ["busybox:.x", "tag"],
    [`busybox:${"t".repeat(129)}`, "tag"],
    // The colon is before the last slash, so `busybox:a` is read as host:port.
    ["busybox:a/b", "registry"],
    // A dot makes the first component a registry host, and `_` is not allowed in host names.
    ["a-b_c.d/g", "registry"],
    [":latest", "empty"],
    ["busybox@", "not a digest"],
    ["busybox@sha256:abc", "not supported"],
    [`busybox@sha256:${"A".repeat(64)}`, "not supported"],
    [`busybox@sha512:${"a".repeat(128)}`, "not supported"],
    ["-busybox", "invalid"],
    ["busybox-", "invalid"],
    ["a//b", "invalid"],
    ["a/b/", "invalid"],
    ["a..b", "invalid"],
    ["host_name.com/app", "registry"],
    ["-host.com/app", "registry"],
    ["host.com:port/app", "registry"],
    ["a".repeat(64), "image id"],
    [`x/${"a".repeat(254)}`, "longer than 255"],
  ];
  it.each(cases)("refuses %j", (input, messagePart) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TsstackError);
    expect((caught as TsstackError).code).toBe("image/invalid-reference");
    expect((caught as TsstackError).message).toContain(`"${input}"`);
    expect((caught as TsstackError).message).toContain(messagePart);
  });
});

describe("formatReference and familiarName", () => {
  const cases: [input: string, full: string, familiar: string][] = [
    ["busybox", "docker.io/library/busybox:latest", "busybox:latest"],
    ["docker.io/library/busybox:1", "docker.io/library/busybox:1", "busybox:1"],
    ["user/app:v2", "docker.io/user/app:v2", "user/app:v2"],
    ["library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"],
    ["localhost:5000/x:y", "localhost:5000/x:y", "localhost:5000/x:y"],
    ["quay.io/org/app", "quay.io/org/app:latest", "quay.io/org/app:latest"],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`, `busybox@${D}`],
    [`ghcr.io/o/a:t@${D}`, `ghcr.io/o/a:t@${D}`, `ghcr.io/o/a:t@${D}`],
  ];
  it.each(cases)("%s is %s, printed as %s", (input, full, familiar) => {
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(full);
    expect(normalizeReference(input)).toBe(full);
    expect(familiarName(ref)).toBe(familiar);
  });

  it("round-trips: parsing the formatted or the familiar form gives the same reference", () => {
    for (const [input] of cases) {
      const ref = parseReference(input);
      expect(parseReference(formatReference(ref))).toEqual(ref);
      expect(parseReference(familiarName(ref))).toEqual(ref);
    }
  });
});
