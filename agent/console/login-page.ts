// The page a browser gets instead of the console when it has not signed in: one field for the token. Plain
// HTML, no script, the console's own stylesheet, so the content policy stays as strict as the console's.

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The login page, with why the last try failed (if it did). */
export function loginPage(device: string, failure: string | null): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>eva console: sign in</title>
  <link rel="icon" href="/console/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/console/console.css">
</head>
<body>
  <header><h1>eva</h1><span>${escapeHtml(device)}</span></header>
  <main class="login">
    <form id="login" method="post" action="/console/login">
      <h2>Sign in</h2>
      <p class="muted">The console's token is in <code>EVA_CONSOLE_TOKEN</code> in the agent's environment on the device.</p>
      <label>token <input name="token" type="password" autocomplete="current-password" required autofocus></label>
      <button type="submit">Sign in</button>
      ${failure ? `<p id="login-failure" class="result rejected">${escapeHtml(failure)}</p>` : ""}
    </form>
  </main>
</body>
</html>
`;
}
