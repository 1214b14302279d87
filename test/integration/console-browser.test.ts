import { appendFileSync, mkdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { checkPublished } from "../support/api-schemas.js";
import { launchChromium } from "../support/browser.js";
import { fileBroker } from "../support/broker.js";
import { MessageCollector } from "../support/mqtt.js";
import { freePort } from "../support/ports.js";
import { spriteClip } from "../support/sprite-clips.js";

// The web console in a real browser against a running agent: real ffmpeg clip, YOLOX-Nano, mosquitto.
// EVA_CONSOLE_SCREENSHOT=agent/console/console.jpg writes the README's picture there (else into the test's temp dir).

const broker = await fileBroker();
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** Where a detect-frame point of the live view is on the page. */
async function onCanvas(page: Page, [x, y]: [number, number]): Promise<[number, number]> {
  const box = (await page.locator("#view").boundingBox())!;
  const size = await page.locator("#view").evaluate((c: HTMLCanvasElement) => [c.width, c.height]);
  return [box.x + (x * box.width) / size[0]!, box.y + (y * box.height) / size[1]!];
}

async function drag(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  const a = await onCanvas(page, from);
  const b = await onCanvas(page, to);
  await page.mouse.move(a[0], a[1]);
  await page.mouse.down();
  await page.mouse.move(b[0], b[1], { steps: 12 });
  await page.mouse.up();
}

describe("web console", () => {
  it("shows the camera live, refuses a broken zone with the CLI's message, counts on a dragged line end point, deletes a zone", async () => {
    // A walker paces x 120 ↔ 520 at y 300; the line at x 600 is never crossed until it is moved.
    const clip = await spriteClip(
      "pace-v1",
      6,
      [
        [
          [0, 120, 300],
          [3, 520, 300],
          [6, 120, 300],
        ],
      ],
      10,
    );
    const { file, dir } = writeTestConfig({
      brokerUrl: broker.url,
      deviceId: "dev-console",
      cameras: {
        cam: {
          source: clip,
          fps: 10,
          extra: [
            "    loop: true",
            "    zones:",
            "      door:   # the doorway",
            "        points: [[40, 200], [200, 200], [200, 350], [40, 350]]",
            "    lines:",
            "      gate: {points: [[600, 40], [600, 340]]}   # moved in the console",
            "",
          ].join("\n"),
        },
      },
    });
    const port = await freePort();
    appendFileSync(file, `health: {port: ${port}}\n`);
    const original = readFileSync(file, "utf8");
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-console/#");
    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 150_000, onSpawn: (k) => (kill = k) });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    // script errors and refused loads (the content security policy) fail the test
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    page.on("console", (m) => void (m.type() === "error" && !m.text().startsWith("Failed to load resource") && pageErrors.push(m.text())));
    // a failed load is named by its URL (the console's own line does not say which); the refused save's 422 is expected
    page.on("response", (r) => void (r.status() >= 400 && r.status() !== 422 && pageErrors.push(`${r.status()} ${r.url()}`)));
    try {
      await sub.until((m) => m.some((x) => x.topic === "eva/dev-console/cameras/cam/status" && x.payload.includes('"online"')), 60_000, "the camera online");
      await page.goto(`http://127.0.0.1:${port}/console/`);

      // the camera, its figures and its live picture
      await expect.poll(() => page.locator('[data-camera="cam"] [data-state]').textContent(), { timeout: 30_000 }).toBe("online");
      await expect.poll(() => page.locator('[data-camera="cam"] [data-fig="provider"]').textContent(), { timeout: 30_000 }).toBe("cpu");
      await expect.poll(() => page.locator("#view").getAttribute("data-frame-time"), { timeout: 30_000 }).toMatch(/^\d{4}-/);
      // the walker's box comes with the very frame it was found in
      await expect.poll(() => page.locator("#view").getAttribute("data-seen"), { timeout: 30_000 }).toContain("person");
      await expect.poll(() => page.locator('[data-line="cam/gate"] [data-dir="in"]').textContent(), { timeout: 10_000 }).toBe("0");
      // the card's rates add up: every frame in is processed, skipped or gated, and gated is shown
      const fps = async () =>
        JSON.parse((await page.locator('[data-camera="cam"] [data-fig="fps"]').getAttribute("data-fps")) ?? "null") as Record<string, number> | null;
      await expect.poll(async () => (await fps())?.in ?? 0, { timeout: 30_000 }).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) {
        const f = (await fps())!;
        expect(f.in + 0.2, JSON.stringify(f)).toBeGreaterThanOrEqual(f.processed + f.skipped + f.gated);
        await page.waitForTimeout(1100);
      }
      expect(await page.locator('[data-camera="cam"] dt').first().textContent()).toBe("fps in / processed / skipped / gated");

      // A zone dragged into a bow tie: the save is refused with check-config's line:col path: message, the file stays.
      await page.click("#edit");
      await drag(page, [200, 350], [20, 340]);
      await page.click("#save");
      await expect.poll(() => page.locator("#save-result").getAttribute("data-result"), { timeout: 20_000 }).toBe("rejected");
      const refusal = await page.locator("#save-result").textContent();
      expect(refusal).toMatch(
        new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:\\d+:\\d+ cameras\\.cam\\.zones\\.door\\.points: the polygon intersects itself`),
      );
      expect(readFileSync(file, "utf8")).toBe(original);
      await page.click("#discard");

      // The line's lower end point dragged from x 600 to x 300: the walker now crosses it. A new line is drawn too.
      await page.click("#edit");
      await drag(page, [600, 340], [300, 340]);
      page.once("dialog", (d) => void d.accept("exit"));
      await page.click("#add-line");
      await page.click("#save");
      await expect.poll(() => page.locator("#save-result").getAttribute("data-result"), { timeout: 30_000 }).toBe("applied");
      expect(await page.locator("#save-result").textContent()).toContain("cameras.cam.lines.gate");
      // only the moved number changed in the file; comments and layout stay
      const saved = readFileSync(file, "utf8");
      expect(saved).toBe(
        original.replace(
          "gate: {points: [[600, 40], [600, 340]]}   # moved in the console\n",
          "gate: {points: [[600, 40], [300, 340]]}   # moved in the console\n      exit: {points: [[160, 180], [480, 180]]}\n",
        ),
      );

      const got = await sub.until((m) => m.some((x) => x.topic === "eva/dev-console/crossings"), 45_000, "a crossing on the moved line");
      const crossing = JSON.parse(got.find((x) => x.topic === "eva/dev-console/crossings")!.payload) as { line: string; counts: { in: number; out: number } };
      expect(crossing.line).toBe("gate");
      // the page's line totals follow
      await expect
        .poll(
          async () =>
            Number(await page.locator('[data-line="cam/gate"] [data-dir="in"]').textContent()) +
            Number(await page.locator('[data-line="cam/gate"] [data-dir="out"]').textContent()),
          { timeout: 20_000 },
        )
        .toBeGreaterThan(0);

      // the crossings tab lists it
      await page.click('.tabs button[data-kind="crossings"]');
      await expect.poll(() => page.locator("#records tbody tr td").nth(2).textContent(), { timeout: 10_000 }).toBe("gate");
      // the events tab shows snapshots, served from the snapshot folder
      await page.click('.tabs button[data-kind="events"]');
      await expect
        .poll(
          () =>
            page
              .locator("#records tbody img")
              .first()
              .evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth),
          { timeout: 30_000 },
        )
        .toBe(640);

      const shot = process.env.EVA_CONSOLE_SCREENSHOT ? path.resolve(process.env.EVA_CONSOLE_SCREENSHOT) : path.join(dir, "console.jpg");
      mkdirSync(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, type: "jpeg", quality: 70, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      expect(pageErrors).toEqual([]);

      // A zone selected and deleted: its lines leave the file, the rest stays.
      await page.click("#edit");
      const inside = await onCanvas(page, [120, 275]);
      await page.mouse.click(inside[0], inside[1]);
      await expect.poll(() => page.locator("#delete").textContent()).toBe("Delete zone door");
      await page.click("#delete");
      await page.click("#save");
      await expect.poll(() => page.locator("#save-result").getAttribute("data-result"), { timeout: 30_000 }).toBe("applied");
      expect(readFileSync(file, "utf8")).toBe(
        saved.replace("zones:\n      door:   # the doorway\n        points: [[40, 200], [200, 200], [200, 350], [40, 350]]", "zones: {}"),
      );
      await expect.poll(() => page.locator('[data-zone="cam/door"]').count(), { timeout: 10_000 }).toBe(0);
    } finally {
      await page.close();
      kill("SIGTERM");
    }
    const result = await running;
    // every message, the config reports of the console's saves included, matches the AsyncAPI document
    expect(sub.messages.flatMap((m) => checkPublished("eva/dev-console", m.topic, m.payload)).slice(0, 10)).toEqual([]);
    await sub.close();
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const log = logLines(result.stderr);
    // the save went through the live reload: applied once, ffmpeg never restarted
    const applied = log.filter((l) => l.msg === "config applied" && (l.changed as string[]).includes("cameras.cam.lines.gate.points"));
    expect(applied).toHaveLength(1);
    expect(applied[0]!.trigger).toBe("web console");
    expect(log.find((l) => l.msg === "config applied")!.changed).toContain("cameras.cam.lines.exit");
    expect(log.filter((l) => l.msg === "config applied").at(-1)!.changed).toContain("cameras.cam.zones.door");
    expect(log.filter((l) => l.msg === "camera online")).toHaveLength(1);
  }, 180_000);
});
