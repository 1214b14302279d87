import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eva, writeTestConfig } from "../support/agent.js";
import { sleep } from "../support/broker.js";
import { emptyClip, personPanClip } from "../support/clips.js";
import { freePort } from "../support/ports.js";

// mosquitto with TLS (certificates made here with openssl), a password file and an ACL: the agent connects
// with its CA and the server name on the broker's certificate, publishes under its own prefix, and a publish the
// ACL forbids is refused without the agent crashing.

const SERVER_NAME = "broker.eva.test";
let dir: string;
let port: number;
/** a second listener that also requires a client certificate signed by the CA */
let mtlsPort: number;
let proc: ChildProcess;

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "eva-tls-"));
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=eva test CA", "-keyout", "ca.key", "-out", "ca.crt");
  // Only a DNS name, no IP: connecting to 127.0.0.1 checks out only with mqtt.tls.servername.
  writeFileSync(path.join(dir, "san.ext"), `subjectAltName=DNS:${SERVER_NAME}\n`);
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${SERVER_NAME}`, "-keyout", "server.key", "-out", "server.csr");
  openssl(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "san.ext",
    "-out",
    "server.crt",
  );
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=eva-dev-t", "-keyout", "client.key", "-out", "client.csr");
  openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-out", "client.crt");
  writeFileSync(path.join(dir, "passwd"), "");
  execFileSync("mosquitto_passwd", ["-b", path.join(dir, "passwd"), "eva-dev-t", "agent-s3cret"]);
  execFileSync("mosquitto_passwd", ["-b", path.join(dir, "passwd"), "observer", "observer-pw"]);
  writeFileSync(
    path.join(dir, "acl"),
    [
      "user eva-dev-t",
      "topic readwrite eva/dev-t/#",
      "",
      "user observer",
      "topic read eva/#",
      "topic write eva/dev-t/cmd/#",
      "topic readwrite replies/#",
      "",
    ].join("\n"),
  );
  port = await freePort();
  mtlsPort = await freePort();
  writeFileSync(
    path.join(dir, "mosquitto.conf"),
    [
      `listener ${port} 127.0.0.1`,
      `cafile ${dir}/ca.crt`,
      `certfile ${dir}/server.crt`,
      `keyfile ${dir}/server.key`,
      `listener ${mtlsPort} 127.0.0.1`,
      `cafile ${dir}/ca.crt`,
      `certfile ${dir}/server.crt`,
      `keyfile ${dir}/server.key`,
      "require_certificate true",
      "allow_anonymous false",
      `password_file ${dir}/passwd`,
      `acl_file ${dir}/acl`,
      `log_dest file ${dir}/mosquitto.log`,
      "log_type all",
      ...(process.getuid?.() === 0 ? ["user root"] : []),
      "",
    ].join("\n"),
  );
  proc = spawn(process.env.MOSQUITTO_BIN ?? "/usr/sbin/mosquitto", ["-c", path.join(dir, "mosquitto.conf")], { stdio: "ignore" });
  const deadline = Date.now() + 5000;
  while (
    !(await new Promise<boolean>((r) =>
      tcpConnect({ port, host: "127.0.0.1" })
        .once("connect", function (this: import("node:net").Socket) {
          this.destroy();
          r(true);
        })
        .once("error", () => r(false)),
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`mosquitto with TLS did not start: ${readFileSync(path.join(dir, "mosquitto.log"), "utf8")}`);
    await sleep(30);
  }
});

afterAll(() => {
  proc?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function observer(): Promise<MqttClient> {
  const c = connect(`mqtts://127.0.0.1:${port}`, {
    protocolVersion: 5,
    username: "observer",
    password: "observer-pw",
    ca: readFileSync(path.join(dir, "ca.crt")),
    servername: SERVER_NAME,
    reconnectPeriod: 200,
  });
  return new Promise((resolve, reject) => {
    c.once("connect", () => resolve(c));
    c.once("error", reject);
  });
}

describe("TLS, password and ACL with mosquitto", () => {
  it("connects over TLS with the password from the environment, publishes under its prefix, and survives a refused publish", async () => {
    const clip = await personPanClip(5, 3);
    const { file } = writeTestConfig({
      brokerUrl: `mqtts://127.0.0.1:${port}`,
      deviceId: "dev-t",
      cameras: { street: { source: clip, extra: "    loop: true\n" } },
    });
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        "reconnect_seconds: 0.5}",
        `reconnect_seconds: 0.5, username: eva-dev-t, password: "\${EVA_TEST_MQTT_PASSWORD}", tls: {ca: ${dir}/ca.crt, servername: ${SERVER_NAME}}}`,
      ),
    );
    const obs = await observer();
    const got: Array<{ topic: string; payload: string }> = [];
    obs.on("message", (topic, payload) => got.push({ topic, payload: payload.toString() }));
    await obs.subscribeAsync(["eva/#", "replies/#"], { qos: 1 });

    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 90_000, env: { EVA_TEST_MQTT_PASSWORD: "agent-s3cret" }, onSpawn: (k) => (kill = k) });
    const until = async (pred: () => boolean, what: string, ms = 30_000) => {
      const deadline = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}; got ${got.map((m) => m.topic).join(", ")}`);
        await sleep(100);
      }
    };
    try {
      await until(() => got.some((m) => m.topic === "eva/dev-t/status" && m.payload === "online"), "online over TLS");
      await until(() => got.some((m) => m.topic === "eva/dev-t/cameras/street/status"), "camera status");

      // A reply to a response topic the ACL forbids the agent: refused by the broker, the agent carries on.
      obs.publish("eva/dev-t/cmd/get_status", "{}", { qos: 1, properties: { responseTopic: "replies/obs", correlationData: Buffer.from("1") } });
      await sleep(1500);
      expect(got.some((m) => m.topic === "replies/obs")).toBe(false);
      // The agent is still connected and answering (v3.1.1-style reply under its own prefix).
      obs.publish("eva/dev-t/cmd/get_status", JSON.stringify({ request_id: "after-refusal" }), { qos: 1 });
      await until(
        () => got.some((m) => m.topic === "eva/dev-t/cmd/get_status/result" && m.payload.includes("after-refusal")),
        "reply after the refusal",
        10_000,
      );

      kill("SIGTERM");
      const result = await running;
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(result.stderr).not.toContain("agent-s3cret");
      expect(result.stderr).not.toContain("MQTT broker connection lost"); // the refusal did not cost the connection
      expect(got.filter((m) => m.topic.startsWith("eva/")).every((m) => m.topic.startsWith("eva/dev-t/"))).toBe(true);
      expect(got.some((m) => m.topic === "eva/dev-t/status" && m.payload === "stopped")).toBe(true);
      const log = readFileSync(path.join(dir, "mosquitto.log"), "utf8");
      expect(log).toMatch(/Denied PUBLISH from eva-dev-t[^\n]*replies\/obs/);
    } finally {
      kill("SIGKILL");
      await obs.endAsync(true);
    }
  });

  it("without the server name the certificate does not match 127.0.0.1: the agent keeps running and says why", async () => {
    const clip = await emptyClip(2);
    const { file } = writeTestConfig({ brokerUrl: `mqtts://127.0.0.1:${port}`, deviceId: "dev-t", cameras: { street: { source: clip } } });
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        "reconnect_seconds: 0.5}",
        `reconnect_seconds: 0.5, username: eva-dev-t, password: agent-s3cret, tls: {ca: ${dir}/ca.crt}}`,
      ),
    );
    const result = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 60_000 });
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const line = result.stderr.split("\n").find((l) => l.includes("MQTT broker unreachable"));
    expect(line).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
  });

  it("with a client certificate on a listener that requires one: connects; without it: refused, and the agent keeps running", async () => {
    const clip = await emptyClip(2);
    const tls = (withCert: boolean) =>
      `tls: {ca: ${dir}/ca.crt, servername: ${SERVER_NAME}${withCert ? `, cert: ${dir}/client.crt, key: ${dir}/client.key` : ""}}`;
    for (const withCert of [true, false]) {
      const { file } = writeTestConfig({ brokerUrl: `mqtts://127.0.0.1:${mtlsPort}`, deviceId: "dev-t", cameras: { street: { source: clip } } });
      writeFileSync(
        file,
        readFileSync(file, "utf8").replace("reconnect_seconds: 0.5}", `reconnect_seconds: 0.5, username: eva-dev-t, password: agent-s3cret, ${tls(withCert)}}`),
      );
      const result = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 60_000 });
      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      if (withCert) expect(result.stderr).toContain("MQTT broker connected");
      else expect(result.stderr).not.toContain("MQTT broker connected");
    }
  });
});
