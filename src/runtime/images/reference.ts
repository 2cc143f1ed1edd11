/**
 * Image references, parsed the way Docker does (github.com/distribution/reference, `ParseNormalizedNamed`):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component { "/" path-component }
 *   domain    := host [ ":" port ]        host: DNS name, IPv4, or "[" IPv6 "]"
 *
 * The first path element is a registry only when it looks like a host (contains `.` or `:`, is
 * `localhost`, or has an uppercase letter); otherwise the name belongs to Docker Hub (`docker.io`), and a
 * single-component Docker Hub name gets the `library/` prefix of official images.
 */
import { TsstackError } from "../../common/errors.js";
import type { ImageReference } from "./types.js";

export const DOCKER_HUB = "docker.io";
const LEGACY_DOCKER_HUB = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
export const DEFAULT_TAG = "latest";
/** distribution/reference NameTotalLengthMax: the name as written, without tag or digest. */
const NAME_MAX = 255;

const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const REPOSITORY_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_RE = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const SHA256_DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
/** Any `algorithm:encoded` digest, so an unsupported algorithm gets its own message. */
const ANY_DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

function invalid(input: string, why: string): TsstackError {
  return new TsstackError("image/invalid-reference", `parsing image reference "${input}": ${why}`);
}

/** Parses `name[:tag][@digest]`, filling in Docker's defaults (docker.io, library/, latest). */
export function parseReference(input: string): ImageReference {
  if (input === "") throw invalid(input, "the reference is empty");
  if (/\s/.test(input)) throw invalid(input, "a reference may not contain whitespace");

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!ANY_DIGEST_RE.test(digest)) {
      throw invalid(input, `"${digest}" is not a digest (expected sha256:<64 lowercase hex digits>)`);
    }
    if (!SHA256_DIGEST_RE.test(digest)) {
      throw invalid(input, `digest "${digest}" is not supported (only sha256:<64 lowercase hex digits>)`);
    }
  }

  // A colon after the last slash starts the tag; one before it belongs to a registry port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      throw invalid(
        input,
        `tag "${tag}" is invalid (1-128 characters of [A-Za-z0-9_.-], not starting with "." or "-")`,
      );
    }
  }

  const name = rest;
  if (name === "") throw invalid(input, "the repository name is empty");
  if (name.length > NAME_MAX) {
    throw invalid(input, `the repository name is longer than ${NAME_MAX} characters`);
  }
  // Docker refuses a bare image id where a name is expected, so `docker pull <id>` cannot mean a repo.
  if (IMAGE_ID_RE.test(name)) {
    throw invalid(input, "a 64-character hexadecimal string is an image id, not a repository name");
  }

  let registry = DOCKER_HUB;
  let repository = name;
  const slash = name.indexOf("/");
  if (slash !== -1) {
    const first = name.slice(0, slash);
    if (/[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first) {
      if (!DOMAIN_RE.test(first)) throw invalid(input, `registry "${first}" is not a valid host[:port]`);
      registry = first === LEGACY_DOCKER_HUB ? DOCKER_HUB : first;
      repository = name.slice(slash + 1);
    }
  }
  if (!REPOSITORY_RE.test(repository)) {
    const why = REPOSITORY_RE.test(repository.toLowerCase())
      ? `repository name "${repository}" must be lowercase`
      : `repository name "${repository}" is invalid (path components of [a-z0-9] joined by ".", "_", "__" or "-", separated by "/")`;
    throw invalid(input, why);
  }
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = OFFICIAL_PREFIX + repository;

  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `registry/repository`, without tag or digest (e.g. `docker.io/library/busybox`). */
export function formatRepository(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Fully qualified form: `docker.io/library/busybox:latest`, `localhost:5000/x@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  return formatRepository(ref) + suffix(ref);
}

/** The short form Docker prints: `busybox:latest`, `user/app:1`, `localhost:5000/x:y`. */
export function familiarName(ref: ImageReference): string {
  let name = formatRepository(ref);
  if (ref.registry === DOCKER_HUB) {
    name = ref.repository;
    const official = name.startsWith(OFFICIAL_PREFIX) ? name.slice(OFFICIAL_PREFIX.length) : undefined;
    // `library/a/b` is not an official image; Docker keeps the prefix there.
    if (official !== undefined && !official.includes("/")) name = official;
  }
  return name + suffix(ref);
}

/** Parses and re-formats: the key under which the store records a name. */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}

function suffix(ref: ImageReference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}
