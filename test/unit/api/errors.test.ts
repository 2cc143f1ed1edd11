import { describe, expect, it } from "vitest";
import { errorCodeFor, HttpError, httpStatusOf } from "../../../src/api/errors.js";
import { TsstackError } from "../../../src/common/errors.js";

describe("error statuses (server side)", () => {
  it.each([
    ["container/not-found", 404],
    ["image/not-found", 404],
    ["container/path-not-found", 404],
    ["container/conflict", 409],
    ["container/not-running", 409],
    ["container/paused", 409],
    ["image/in-use", 409],
    ["container/invalid-config", 400],
    ["image/invalid-reference", 400],
    ["container/not-a-directory", 400],
    ["network/not-found", 404],
    ["volume/not-found", 404],
    ["network/in-use", 409],
    ["volume/in-use", 409],
    ["network/conflict", 409],
    ["volume/conflict", 409],
    ["network/port-in-use", 409],
    ["network/address-in-use", 409],
    ["network/invalid-config", 400],
    ["network/invalid-filter", 400],
    ["volume/invalid-name", 400],
    ["network/unsupported", 501],
    ["volume/unsupported", 501],
    ["runtime/start-failed", 500],
    ["internal", 500],
  ])("%s answers %i", (code, status) => {
    expect(httpStatusOf(new TsstackError(code, "x"))).toBe(status);
  });

  it("uses an HttpError's own status, and 500 for anything that is not a TsstackError", () => {
    expect(httpStatusOf(new HttpError(413, "api/body-too-large", "x"))).toBe(413);
    expect(httpStatusOf(new Error("x"))).toBe(500);
    expect(httpStatusOf("x")).toBe(500);
  });
});

describe("error codes (client side)", () => {
  it.each([
    [404, "/containers/x/json", undefined, "container/not-found"],
    [404, "/v1.41/containers/create", undefined, "image/not-found"],
    [404, "/images/busybox/json", undefined, "image/not-found"],
    [404, "/exec/abc/json", undefined, "exec/not-found"],
    [409, "/containers/x", undefined, "container/conflict"],
    [409, "/images/x", undefined, "image/conflict"],
    [400, "/containers/create", undefined, "container/invalid-config"],
    [500, "/containers/x/start", undefined, "engine/http-500"],
    [404, "/v1.41/networks/front", undefined, "network/not-found"],
    [409, "/networks/create", undefined, "network/conflict"],
    [409, "/networks/front", undefined, "network/in-use"],
    [400, "/networks/create", undefined, "network/invalid-config"],
    [404, "/volumes/data", undefined, "volume/not-found"],
    [409, "/volumes/create", undefined, "volume/conflict"],
    [409, "/v1.41/volumes/data", undefined, "volume/in-use"],
    [400, "/volumes/create", undefined, "volume/invalid-config"],
    [409, "/containers/x/kill", "container/not-running", "container/not-running"],
    [500, "/x", "internal", "internal"],
    // A code that is not one of ours (another server's) is not trusted.
    [404, "/containers/x/json", "Not Found!", "container/not-found"],
  ])("%i on %s (server code %s) is %s", (status, path, serverCode, expected) => {
    expect(errorCodeFor(status, path, serverCode)).toBe(expected);
  });
});
