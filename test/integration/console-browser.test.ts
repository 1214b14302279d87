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

/** Where a detect-frame point of the live view is on the page (the canvas has a margin around the frame). */
async function onCanvas(page: Page, [x, y]: [number, number]): Promise<[number, number]> {
  const box = (await page.locator("#view").boundingBox())!;
  const [w, h, m] = await page.locator("#view").evaluate((c: HTMLCanvasElement) => [c.width, c.height, Number(c.dataset.margin ?? 0)]);
  return [box.x + ((x + m!) * box.width) / w!, box.y + ((y + m!) * box.height) / h!];
}

async function click(page: Page, p: [number, number]): Promise<void> {
  const [x, y] = await onCanvas(page, p);
  await page.mouse.click(x, y);
}

/** Canvas pixels of about this colour (the drawing's own colours: boxes, zones), counted in the page. */
function pixels(page: Page, rgb: [number, number, number], region?: [number, number, number, number]): Promise<number> {
  return page.locator("#view").evaluate(
    (c: HTMLCanvasElement, [rgb, region]) => {
      const [x0, y0, x1, y1] = region ?? [0, 0, c.width, c.height];
      const d = c.getContext("2d")!.getImageData(x0, y0, x1 - x0, y1 - y0).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i]! - rgb[0]) + Math.abs(d[i + 1]! - rgb[1]) + Math.abs(d[i + 2]! - rgb[2]) < 60) n++;
      return n;
    },
    [rgb, region] as const,
  );
}

/** A walker pacing x 120 ↔ 520 at y 300, at 10 fps. */
const paceClip = () =>
  spriteClip(
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
    const clip = await paceClip();
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

      // The line's lower end point dragged from x 600 to x 300: the walker now crosses it. A new line is named in
      // the page and drawn by two clicks.
      await page.click("#edit");
      // the detector's boxes stay on the picture while editing
      await expect.poll(() => pixels(page, [0x4d, 0xd0, 0xff]), { timeout: 20_000 }).toBeGreaterThan(20);
      await drag(page, [600, 340], [300, 340]);
      await page.click("#add-line");
      await page.fill("#new-shape-name", "gate");
      await page.click("#new-shape button[type=submit]");
      expect(await page.locator("#new-shape-error").textContent()).toBe("'gate' cannot be used: that name is taken");
      await page.fill("#new-shape-name", "exit");
      await page.click("#new-shape button[type=submit]");
      await expect.poll(() => page.locator("#drawing-hint").textContent()).toBe("Click the two end points of line exit (0 of 2).");
      await click(page, [160, 180]);
      await click(page, [480, 180]);
      await expect.poll(() => page.locator("#drawing").isHidden()).toBe(true);
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
      // the sign inventory and alarm tabs list through the record kinds' route: empty here, no error row
      for (const [tab, first] of [
        ["sign_assets", "label"],
        ["alarms", "time"],
      ] as const) {
        await page.click(`.tabs button[data-kind="${tab}"]`);
        await expect.poll(() => page.locator("#records thead th").first().textContent(), { timeout: 10_000 }).toBe(first);
        await expect.poll(() => page.locator("#records tbody td").first().textContent(), { timeout: 10_000 }).toBe("nothing yet");
      }
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

      // A zone drawn by clicks, one corner in the margin beyond the right edge (it lands on the edge); that
      // corner's handle is drawn whole, overhanging the picture, and is dragged from its outer half. A mask
      // is drawn too.
      await page.click("#edit");
      await page.click("#add-zone");
      await page.fill("#new-shape-name", "yard");
      await page.click("#new-shape button[type=submit]");
      for (const p of [
        [400, 100],
        [650, 100],
        [640, 200],
        [400, 200],
        [400, 100],
      ] as Array<[number, number]>)
        await click(page, p);
      await expect.poll(() => page.locator("#delete").textContent()).toBe("Delete zone yard");
      const m = Number(await page.locator("#view").getAttribute("data-margin"));
      expect(m).toBeGreaterThan(8);
      // the green handle rings beyond x 640, in the margin
      expect(await pixels(page, [0, 255, 0], [640 + m + 2, 100 + m - 8, 640 + 2 * m, 100 + m + 8])).toBeGreaterThan(3);
      await drag(page, [645, 200], [600, 220]);
      await page.click("#add-mask");
      for (const p of [
        [0, 0],
        [100, 0],
        [100, 30],
      ] as Array<[number, number]>)
        await click(page, p);
      await page.click("#drawing-finish");
      await page.click("#save");
      await expect.poll(() => page.locator("#save-result").getAttribute("data-result"), { timeout: 30_000 }).toBe("applied");
      const drawn = readFileSync(file, "utf8");
      expect(drawn).toBe(
        saved
          .replace(
            "      exit: {points: [[160, 180], [480, 180]]}\n",
            "      exit: {points: [[160, 180], [480, 180]]}\n    masks:\n      - [[0, 0], [100, 0], [100, 30]]\n",
          )
          .replace(
            "points: [[40, 200], [200, 200], [200, 350], [40, 350]]\n",
            "points: [[40, 200], [200, 200], [200, 350], [40, 350]]\n      yard: {points: [[400, 100], [640, 100], [600, 220], [400, 200]]}\n",
          ),
      );

      const shot = process.env.EVA_CONSOLE_SCREENSHOT ? path.resolve(process.env.EVA_CONSOLE_SCREENSHOT) : path.join(dir, "console.jpg");
      mkdirSync(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, type: "jpeg", quality: 70, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      expect(pageErrors).toEqual([]);

      // A zone and the mask selected and deleted: their lines leave the file, the rest stays.
      await page.click("#edit");
      await click(page, [120, 275]);
      await expect.poll(() => page.locator("#delete").textContent()).toBe("Delete zone door");
      await page.click("#delete");
      await click(page, [60, 10]);
      await expect.poll(() => page.locator("#delete").textContent()).toBe("Delete mask 0");
      await page.click("#delete");
      await page.click("#save");
      await expect.poll(() => page.locator("#save-result").getAttribute("data-result"), { timeout: 30_000 }).toBe("applied");
      expect(readFileSync(file, "utf8")).toBe(
        drawn
          .replace("      door:   # the doorway\n        points: [[40, 200], [200, 200], [200, 350], [40, 350]]\n", "")
          .replace("    masks:\n      - [[0, 0], [100, 0], [100, 30]]\n", "    masks: []\n"),
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

describe("web console beyond loopback", () => {
  it("with a token: the browser is sent to a login page, a wrong token is refused there, the right one signs in with a session cookie; without a token loopback still works", async () => {
    const clip = await paceClip();
    const { file } = writeTestConfig({ brokerUrl: broker.url, deviceId: "dev-login", cameras: { cam: { source: clip, fps: 5, extra: "    loop: true\n" } } });
    const port = await freePort();
    appendFileSync(file, `health: {port: ${port}, host: 0.0.0.0}\n`);
    const runWith = async (env: NodeJS.ProcessEnv, check: () => Promise<void>) => {
      let kill: (s: NodeJS.Signals) => void = () => {};
      const running = eva(["run", "--config", file], { timeoutMs: 120_000, env, onSpawn: (k) => (kill = k) });
      try {
        await expect
          .poll(
            () =>
              fetch(`http://127.0.0.1:${port}/healthz`).then(
                (r) => r.status,
                () => 0,
              ),
            { timeout: 60_000 },
          )
          .toBeGreaterThan(0);
        await check();
      } finally {
        kill("SIGTERM");
      }
      expect((await running).code).toBe(0);
    };

    await runWith({ EVA_CONSOLE_TOKEN: "open-sesame-42" }, async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        await page.goto(`http://127.0.0.1:${port}/console/`);
        expect(new URL(page.url()).pathname).toBe("/console/login");
        await page.fill("input[name=token]", "wrong");
        await page.click("#login button[type=submit]");
        await expect.poll(() => page.locator("#login-failure").textContent()).toBe("That is not the token.");
        await page.fill("input[name=token]", "open-sesame-42");
        await page.click("#login button[type=submit]");
        await expect.poll(() => page.locator('[data-camera="cam"] .name').textContent(), { timeout: 30_000 }).toBe("cam");
        expect(new URL(page.url()).pathname).toBe("/console/");
        const [cookie] = await context.cookies();
        expect(cookie).toMatchObject({ name: "eva_console", httpOnly: true, sameSite: "Strict" });
        expect(cookie!.value).not.toContain("open-sesame");
        expect(cookie!.value.length).toBeGreaterThanOrEqual(43);
      } finally {
        await context.close();
      }
    });

    await runWith({ EVA_CONSOLE_TOKEN: "" }, async () => {
      const page = await browser.newPage();
      try {
        await page.goto(`http://127.0.0.1:${port}/console/`);
        expect(new URL(page.url()).pathname).toBe("/console/");
        await expect.poll(() => page.locator('[data-camera="cam"] .name').textContent(), { timeout: 30_000 }).toBe("cam");
      } finally {
        await page.close();
      }
    });
  }, 180_000);
});
