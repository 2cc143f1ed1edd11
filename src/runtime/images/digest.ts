/**
 * sha256 content digests: hashing (whole buffers and streams), validation, OCI chain IDs, and the one
 * place that decides whether content matches what a descriptor promised.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";

import { TsstackError } from "../../common/errors.js";
import type { Digest } from "./types.js";

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** True for `sha256:<64 lowercase hex>`, the only digest form the store accepts. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === "string" && DIGEST_RE.test(value);
}

/**
 * The hex part of a digest. Throws `image/invalid-digest` for anything else, so a digest taken from a
 * manifest can never become a path like `../../etc/passwd` when joined under the blob directory.
 */
export function digestHex(digest: string): string {
  if (!DIGEST_RE.test(digest)) {
    throw new TsstackError(
      "image/invalid-digest",
      `reading digest "${digest}": expected sha256:<64 lowercase hex digits>`,
    );
  }
  return digest.slice("sha256:".length);
}

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Incremental hasher that also counts bytes, for content that arrives in chunks. */
export class DigestHasher {
  readonly #hash: Hash = createHash("sha256");
  #size = 0;

  update(chunk: Uint8Array): this {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
    return this;
  }

  get size(): number {
    return this.#size;
  }

  /** Finishes the hash; the hasher cannot be updated afterwards. */
  digest(): { digest: Digest; size: number } {
    return { digest: `sha256:${this.#hash.digest("hex")}`, size: this.#size };
  }
}

export async function digestStream(
  source: AsyncIterable<Uint8Array>,
): Promise<{ digest: Digest; size: number }> {
  const hasher = new DigestHasher();
  for await (const chunk of source) hasher.update(chunk);
  return hasher.digest();
}

export function digestFile(path: string): Promise<{ digest: Digest; size: number }> {
  return digestStream(createReadStream(path));
}

/**
 * OCI chain IDs: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)).
 * A chain ID names a layer together with everything below it, which is what an unpacked snapshot is
 * (whiteouts only mean something relative to the layers underneath).
 */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  let previous: Digest | undefined;
  for (const diffId of diffIds) {
    digestHex(diffId);
    const id = previous === undefined ? diffId : sha256(`${previous} ${diffId}`);
    out.push(id);
    previous = id;
  }
  return out;
}

/**
 * Throws unless `actual` matches what was `expected` (either part may be absent). `what` names the
 * content for the message, e.g. `blob sha256:… of layer 2`. Codes: `image/size-mismatch`,
 * `image/digest-mismatch`.
 */
export function verifyDigest(
  what: string,
  actual: { readonly digest: Digest; readonly size: number },
  expected: { readonly digest?: Digest; readonly size?: number },
): void {
  if (expected.size !== undefined && actual.size !== expected.size) {
    throw new TsstackError(
      "image/size-mismatch",
      `verifying ${what}: expected ${expected.size} bytes, got ${actual.size}`,
    );
  }
  if (expected.digest !== undefined && actual.digest !== expected.digest) {
    throw new TsstackError(
      "image/digest-mismatch",
      `verifying ${what}: expected digest ${expected.digest}, got ${actual.digest}`,
    );
  }
}
