import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds dist/ once: the detector's worker thread and the `eva` CLI run from compiled JavaScript.
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: integration suites run ffmpeg, ONNX Runtime and mosquitto; more parallel files only thrash.
    maxWorkers: 2,
  },
});
