import { describe, expect, it } from "vitest";
import { checkConfigText } from "../../agent/check/config-check.js";
import { ConfigError, formatProblem, parseConfig } from "../../agent/config/load.js";

const base = `device: {id: box1}
models: {}
cameras: {}
`;

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, "c.yaml", env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map(formatProblem);
  }
  throw new Error("expected a ConfigError");
}

describe("sinks config", () => {
  it("no sinks by default; a webhook with no topic filter, ${ENV} in its headers, and its CA path resolved against the config", () => {
    expect(parseConfig(base, "/etc/eva/eva.yaml").sinks).toEqual({});
    const cfg = parseConfig(
      `${base}sinks:\n  webhook:\n    url: https://hooks.example/eva\n    headers: {Authorization: "Bearer \${TOKEN}"}\n    tls: {ca: certs/ca.pem}\n`,
      "/etc/eva/eva.yaml",
      { TOKEN: "abc" },
    );
    expect(cfg.sinks.webhook).toMatchObject({
      url: "https://hooks.example/eva",
      headers: { Authorization: "Bearer abc" },
      tls: { ca: "/etc/eva/certs/ca.pem", reject_unauthorized: true },
    });
    // no topics given: the sink takes every record kind's own topic (the webhook integration test checks which)
    expect(cfg.sinks.webhook?.topics).toBeUndefined();
  });

  it("a URL that is not HTTP(S), a header that would break the request, a bad topic filter: each with file:line:col", () => {
    expect(problems(`${base}sinks:\n  webhook:\n    url: mqtt://broker:1883\n`)).toEqual([
      "c.yaml:6:10 sinks.webhook.url: scheme mqtt:// is not HTTP; use http:// or https://",
    ]);
    expect(problems(`${base}sinks:\n  webhook:\n    url: hooks.example/eva\n`)[0]).toMatch(
      /^c\.yaml:6:10 sinks\.webhook\.url: 'hooks\.example\/eva' is not a URL/,
    );
    expect(problems(`${base}sinks:\n  webhook: {}\n`)).toEqual(["c.yaml:5:12 sinks.webhook.url: required key is missing"]);
    expect(problems(`${base}sinks:\n  webhook:\n    url: http://h/x\n    headers: {"X-A": "a\\r\\nInjected: 1"}\n`)[0]).toMatch(
      /^c\.yaml:7:\d+ sinks\.webhook\.headers\.X-A: an HTTP header value cannot hold a line break/,
    );
    expect(problems(`${base}sinks:\n  webhook:\n    url: http://h/x\n    topics: ["#/events"]\n`)[0]).toMatch(
      /^c\.yaml:7:\d+ sinks\.webhook\.topics\.0: '#' only as the whole last level/,
    );
    expect(problems(`${base}sinks:\n  webhook:\n    url: http://h/x\n    headers: {Authorization: "Bearer \${NOPE}"}\n`)[0]).toMatch(
      /environment variable NOPE is not set/,
    );
    expect(problems(`${base}sinks:\n  webhok: {url: http://h/x}\n`)).toEqual(["c.yaml:5:3 sinks.webhok: unknown key 'webhok'"]);
  });

  it("check-config says when the webhook's CA file cannot be read", async () => {
    const r = await checkConfigText(`${base}sinks:\n  webhook:\n    url: https://h/x\n    tls: {ca: /nonexistent/ca.pem}\n`, "/tmp/c.yaml", {});
    expect(r.problems.map((p) => p.path)).toContain("sinks.webhook.tls.ca");
  });
});
