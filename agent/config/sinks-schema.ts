import { z } from "zod";

// Where records go besides MQTT (agent/publish/sinks): each sink reads the outbox with its own cursor.

/** Why a webhook URL cannot be used, or null when it can. */
export function webhookUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `'${redact(url)}' is not a URL; use http://host:port/path or https://…`;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return `scheme ${u.protocol}// is not HTTP; use http:// or https://`;
  if (!u.hostname) return "the URL names no host";
  return null;
}

const redact = (url: string) => url.replace(/\/\/[^/@]*@/, "//[redacted]@");

// RFC 9110 token characters for a field name; a value may not break the request with a line end.
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "not an HTTP header name");
const headerValue = z.string().regex(/^[^\r\n\0]*$/, "an HTTP header value cannot hold a line break");

export const webhookSinkSchema = z.strictObject({
  url: z
    .string()
    .superRefine((url, ctx) => {
      const why = webhookUrlProblem(url);
      if (why) ctx.addIssue({ code: "custom", message: why });
    })
    .describe("receiver the records are POSTed to, one JSON body per record: http:// or https://"),
  headers: z
    .record(headerName, headerValue)
    .default({})
    .describe('extra request headers, e.g. Authorization: "Bearer ${WEBHOOK_TOKEN}" (use ${ENV_VAR} for secrets)'),
  topics: z
    .array(
      z
        .string()
        .min(1)
        .regex(/^(?:[^#]*\/)?#$|^[^#]*$/, "'#' only as the whole last level"),
    )
    .min(1)
    .optional()
    .describe(
      "outbox topics sent (MQTT filters on the suffix after <prefix>/<device>/, + and # allowed); others are skipped. Default: every record kind's own topic (events, crossings, signs, alarms, counts), not the retained state",
    ),
  timeout_seconds: z.number().min(0.1).max(300).default(10).describe("a request with no answer for this long is abandoned and retried"),
  retry_seconds: z.number().min(0.05).max(60).default(1).describe("first delay before a failed request is retried; doubles on every failure"),
  retry_max_seconds: z.number().min(0.1).max(3600).default(60).describe("longest delay between retries"),
  tls: z
    .strictObject({
      ca: z.string().optional().describe("CA certificate file (PEM) the receiver's certificate must chain to; default the system CAs"),
      reject_unauthorized: z.boolean().default(true).describe("refuse a receiver whose certificate does not check out; false only for tests"),
    })
    .optional()
    .describe("TLS settings for an https:// receiver"),
});
export type WebhookSinkConfig = z.infer<typeof webhookSinkSchema>;

export const sinksSchema = z.strictObject({
  webhook: webhookSinkSchema.optional().describe("POST every record to an HTTP(S) receiver, retried until it answers 2xx; nothing is lost while it is down"),
});
export type SinksConfig = z.infer<typeof sinksSchema>;
