import { describe, expect, it } from "vitest";
import { ROUTES } from "../../../src/api/server.js";
import { matchRoute, route, stripApiVersion } from "../../../src/api/router.js";

describe("stripApiVersion", () => {
  it.each([
    ["/v1.41/containers/json", "/containers/json", "1.41"],
    ["/v1.24/_ping", "/_ping", "1.24"],
    ["/containers/json", "/containers/json", undefined],
    ["/v1/containers/json", "/v1/containers/json", undefined],
    ["/v1.41", "/v1.41", undefined],
  ])("%s → %s", (input, path, version) => {
    expect(stripApiVersion(input)).toEqual({ path, ...(version !== undefined ? { version } : {}) });
  });
});

describe("matchRoute", () => {
  const routes = [
    route("GET", "/containers/json", "list"),
    route("GET", "/containers/{id}/json", "inspect"),
    route("DELETE", "/containers/{id}", "remove"),
    route("GET", "/images/{name*}/json", "image"),
  ];

  it("matches templates and decodes parameters", () => {
    expect(matchRoute(routes, "GET", "/containers/json")).toMatchObject({ kind: "found", params: [] });
    expect(matchRoute(routes, "GET", "/containers/web%2E1/json")).toMatchObject({
      kind: "found",
      route: { handler: "inspect" },
      params: ["web.1"],
    });
    expect(matchRoute(routes, "GET", "/images/localhost:5000/team/app:1/json")).toMatchObject({
      route: { handler: "image" },
      params: ["localhost:5000/team/app:1"],
    });
  });

  it("answers HEAD with the GET route", () => {
    expect(matchRoute(routes, "HEAD", "/containers/x/json")).toMatchObject({
      kind: "found",
      route: { handler: "inspect" },
    });
  });

  it("reports the methods of a path matched under others (405), and unknown paths (404)", () => {
    expect(matchRoute(routes, "POST", "/containers/abc")).toEqual({
      kind: "method-not-allowed",
      allow: ["DELETE"],
    });
    expect(matchRoute(routes, "GET", "/networks")).toEqual({ kind: "not-found" });
    expect(matchRoute(routes, "GET", "/containers/a/b/json")).toEqual({ kind: "not-found" });
  });

  it("routes every endpoint of the server's table as Docker names it", () => {
    const cases: [string, string, string][] = [
      ["GET", "/_ping", "/_ping"],
      ["HEAD", "/_ping", "/_ping"],
      ["GET", "/events", "/events"],
      ["GET", "/containers/json", "/containers/json"],
      ["POST", "/containers/create", "/containers/create"],
      ["POST", "/containers/abc/start", "/containers/{id}/start"],
      ["POST", "/containers/abc/wait", "/containers/{id}/wait"],
      ["DELETE", "/containers/abc", "/containers/{id}"],
      ["HEAD", "/containers/abc/archive", "/containers/{id}/archive"],
      ["PUT", "/containers/abc/archive", "/containers/{id}/archive"],
      ["POST", "/containers/abc/attach", "/containers/{id}/attach"],
      ["POST", "/containers/abc/exec", "/containers/{id}/exec"],
      ["POST", "/exec/e1/start", "/exec/{id}/start"],
      ["POST", "/exec/e1/resize", "/exec/{id}/resize"],
      ["POST", "/commit", "/commit"],
      ["GET", "/images/json", "/images/json"],
      ["GET", "/images/busybox:latest/json", "/images/{name*}/json"],
      ["DELETE", "/images/registry:5000/a/b:1", "/images/{name*}"],
    ];
    for (const [method, path, template] of cases) {
      const m = matchRoute(ROUTES, method, path);
      expect(m.kind === "found" ? m.route.template : m.kind, `${method} ${path}`).toBe(template);
    }
  });
});
