import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { TsstackError } from "../../../../src/common/errors.js";
import {
  chainIds,
  digestFile,
  digestHex,
  DigestHasher,
  digestStream,
  isDigest,
  sha256,
  verifyDigest,
} from "../../../../src/runtime/images/digest.js";
import { useTmpDirs } from "../../../helpers/tmp.js";

const tmp = useTmpDirs();

/** Independent reference implementation, straight from the definition. */
function hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof TsstackError ? error.code : "not a TsstackError";
  }
  return undefined;
}

describe("isDigest and digestHex", () => {
  const good = `sha256:${"0123456789abcdef".repeat(4)}`;
  it.each([
    [good, true],
    [`sha256:${"A".repeat(64)}`, false],
    [`sha256:${"a".repeat(63)}`, false],
    [`sha256:${"a".repeat(65)}`, false],
    [`sha512:${"a".repeat(128)}`, false],
    [`sha256:../../${"a".repeat(58)}`, false],
    ["a".repeat(64), false],
    [42, false],
  ])("isDigest(%j) is %s", (value, expected) => {
    expect(isDigest(value)).toBe(expected);
  });

  it("gives the hex part of a digest and refuses anything else", () => {
    expect(digestHex(good)).toBe("0123456789abcdef".repeat(4));
    expect(codeOf(() => digestHex("sha256:../etc/passwd"))).toBe("image/invalid-digest");
  });
});

describe("hashing", () => {
  it("sha256 of the empty string is the well-known value", () => {
    expect(sha256("")).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("the stream hasher and digestStream agree with one-shot hashing and count bytes", async () => {
    const chunks = [Buffer.from("hello "), new Uint8Array(0), Buffer.from("world"), Buffer.alloc(100_000, 7)];
    const whole = Buffer.concat(chunks);
    const hasher = new DigestHasher();
    for (const chunk of chunks) hasher.update(chunk);
    expect(hasher.size).toBe(whole.length);
    expect(hasher.digest()).toEqual({ digest: `sha256:${hex(whole)}`, size: whole.length });
    // eslint-disable-next-line @typescript-eslint/require-await -- a generator is the simplest AsyncIterable
    async function* source(): AsyncGenerator<Uint8Array> {
      yield* chunks;
    }
    expect(await digestStream(source())).toEqual({ digest: sha256(whole), size: whole.length });
  });

  it("digestFile hashes a file's content", async () => {
    const path = join(await tmp(), "f");
    await writeFile(path, "content");
    expect(await digestFile(path)).toEqual({ digest: `sha256:${hex("content")}`, size: 7 });
  });
});

describe("chainIds", () => {
  const d = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;

  it("is empty for no layers and the diff ID itself for one", () => {
    expect(chainIds([])).toEqual([]);
    expect(chainIds([d(1)])).toEqual([d(1)]);
  });

  it('hashes "<parent chain ID> <diff ID>" for every layer above the first', () => {
    const c1 = `sha256:${hex(`${d(1)} ${d(2)}`)}`;
    const c2 = `sha256:${hex(`${c1} ${d(3)}`)}`;
    expect(chainIds([d(1), d(2), d(3)])).toEqual([d(1), c1, c2]);
  });

  it("depends on the order of the layers", () => {
    expect(chainIds([d(1), d(2)])[1]).not.toBe(chainIds([d(2), d(1)])[1]);
  });

  it("refuses a diff ID that is not a sha256 digest", () => {
    expect(codeOf(() => chainIds([d(1), "sha256:xyz"]))).toBe("image/invalid-digest");
  });
});

describe("verifyDigest", () => {
  const actual = { digest: sha256("x"), size: 1 };

  it("accepts matching or absent expectations", () => {
    expect(
      codeOf(() => {
        verifyDigest("blob", actual, {});
      }),
    ).toBeUndefined();
    expect(
      codeOf(() => {
        verifyDigest("blob", actual, { digest: actual.digest, size: 1 });
      }),
    ).toBeUndefined();
  });

  it("refuses a wrong size or a wrong digest, naming what was verified and both values", () => {
    expect(
      codeOf(() => {
        verifyDigest("blob", actual, { size: 2 });
      }),
    ).toBe("image/size-mismatch");
    expect(
      codeOf(() => {
        verifyDigest("blob", actual, { digest: sha256("y") });
      }),
    ).toBe("image/digest-mismatch");
    expect(() => {
      verifyDigest("layer 3", actual, { digest: sha256("y") });
    }).toThrow(`verifying layer 3: expected digest ${sha256("y")}, got ${actual.digest}`);
  });
});
