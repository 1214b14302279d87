import { Parser, DiagnosticSeverity } from "@asyncapi/parser";
import { describe, expect, it } from "vitest";
import { eva } from "../support/agent.js";

// The official parser is what code generators and AsyncAPI Studio run on the document: a control room's
// tooling must be able to read it, not only our own JSON Schema checks.
describe("`eva asyncapi` through the official AsyncAPI parser", () => {
  it("parses with no error", async () => {
    const out = await eva(["asyncapi"]);
    expect(out.code, out.stderr).toBe(0);
    const { document, diagnostics } = await new Parser().parse(out.stdout);
    const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map((d) => `${d.path.join(".")}: ${d.message}`);
    expect(errors, errors.join("\n")).toEqual([]);
    expect(document?.channels().length).toBeGreaterThan(10);
    // Retained topics say so on their send operation, where the MQTT binding puts `retain`.
    const retained = document!
      .operations()
      .all()
      .filter((op) => op.bindings().get("mqtt")?.value()?.retain === true)
      .map((op) => op.id());
    expect(retained).toContain("sendLineCounts");
    expect(retained).toContain("sendOccupancy");
  });
});
