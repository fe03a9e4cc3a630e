// Drives the depot console in headless Chromium against a real `depot serve` started by
// tests/console.rs with `--host-domain depot.example`. Chromium resolves depot.example and
// every name under it to 127.0.0.1, so the console (depot.example) and the environments'
// domains (shop-1234.depot.example) are the same site, as they would be in production.
//
// Environment: DEPOT_PORT, ACCOUNT_SID, AUTH_TOKEN, SUB_SID, SUB_TOKEN (a second account),
// CHROMIUM (executable), SCREENSHOTS (a directory; unset: none are taken).
// Prints one line per step; exits non-zero at the first failed expectation.
"use strict";

const { chromium } = require("playwright-core");
const assert = require("node:assert/strict");
const path = require("node:path");

const port = process.env.DEPOT_PORT;
const console_ = `http://depot.example:${port}/console`;
const screenshots = process.env.SCREENSHOTS || "";
const started = Date.now();

function step(text) {
  process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${text}\n`);
}

async function shot(page, name, fullPage = false) {
  if (!screenshots) return;
  await page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage });
}

// The page the test uploads as a hostile tenant's asset: served on the environment's domain,
// it tries everything a page there could do against the console and writes down what worked.
const HOSTILE = `<!doctype html><title>hostile</title><pre id="report">running</pre>
<script>
(async () => {
  const consoleBase = "http://depot.example:" + location.port + "/console";
  const report = {};
  report.cookie = document.cookie;
  try {
    const r = await fetch(consoleBase + "/services", { credentials: "include" });
    report.read = "status " + r.status + " " + (await r.text()).slice(0, 40);
  } catch (e) { report.read = "blocked"; }
  try {
    const body = new URLSearchParams({ UniqueName: "pwned-fetch", FriendlyName: "pwned" });
    await fetch(consoleBase + "/services", { method: "POST", body, credentials: "include", mode: "no-cors" });
    report.post = "sent";
  } catch (e) { report.post = "blocked"; }
  const frame = document.createElement("iframe");
  frame.src = consoleBase + "/services";
  document.body.append(frame);
  await new Promise((done) => { frame.onload = done; setTimeout(done, 1500); });
  try { report.frame = String(frame.contentDocument && frame.contentDocument.body.innerHTML); }
  catch (e) { report.frame = "blocked"; }
  document.getElementById("report").textContent = JSON.stringify(report);
  // Last, a top-level form post, as a click on a link of a hostile page would make.
  const form = document.createElement("form");
  form.method = "post";
  form.action = consoleBase + "/services";
  for (const [k, v] of [["UniqueName", "pwned-form"], ["FriendlyName", "pwned"], ["csrf", "guess"]]) {
    const input = document.createElement("input");
    input.name = k; input.value = v; form.append(input);
  }
  document.body.append(form);
  report.done = true;
  document.getElementById("report").textContent = JSON.stringify(report);
})();
</script>`;

async function upload(page, kind, files) {
  await page.selectOption("select[name=Kind]", kind);
  await page.setInputFiles("input[type=file]", files);
  await Promise.all([
    page.waitForEvent("load"),
    page.click("form[data-upload] button[type=submit]"),
  ]);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--host-resolver-rules=MAP *.depot.example 127.0.0.1, MAP depot.example 127.0.0.1",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // Sign-in: a wrong token is refused, the right one lands on the empty services page.
  await page.goto(`${console_}`);
  assert.match(page.url(), /\/console\/sign-in$/);
  await shot(page, "sign-in");
  // Keyboard: the skip link comes first, then the labelled Account SID field.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.name), "AccountSid");
  await page.getByLabel("Account SID", { exact: true }).fill(process.env.ACCOUNT_SID);
  await page.getByLabel("Auth Token", { exact: true }).fill("not-the-token");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByText("Sign-in failed").waitFor();
  step("wrong token refused");
  await page.getByLabel("Account SID", { exact: true }).fill(process.env.ACCOUNT_SID);
  await page.getByLabel("Auth Token", { exact: true }).fill(process.env.AUTH_TOKEN);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByText("No services yet").waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "depot_console");
  assert.ok(session, "session cookie set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.equal(session.domain, "depot.example", "host-only: no leading dot");
  step("signed in");

  // A service and an environment.
  await page.getByLabel("Unique name", { exact: true }).fill("shop");
  await page.getByLabel("Friendly name", { exact: true }).fill("Shop");
  await page.getByRole("button", { name: "Create service" }).click();
  await page.getByText("Service created.").waitFor();
  const serviceUrl = page.url().split("?")[0];
  await page.getByLabel("Unique name", { exact: true }).fill("production");
  await page.getByRole("button", { name: "Create environment" }).click();
  await page.getByText("Environment created.").waitFor();
  const environmentUrl = page.url().split("?")[0];
  step("service and environment created");

  // Three files at once through the picker, then a function by drag and drop.
  await page.goto(`${serviceUrl}/files`);
  await upload(page, "asset", [
    { name: "index.html", mimeType: "text/html", buffer: Buffer.from("<h1>Shop v1</h1>") },
    { name: "style.css", mimeType: "text/css", buffer: Buffer.from("h1 { color: teal; }") },
    { name: "hostile.html", mimeType: "text/html", buffer: Buffer.from(HOSTILE) },
  ]);
  await page.getByRole("cell", { name: "/hostile.html" }).waitFor();
  step("three files uploaded with the picker");
  const dataTransfer = await page.evaluateHandle(() => {
    const transfer = new DataTransfer();
    const code = "exports.handler = (context, event, callback) => {\n" +
      "  console.log('hello from the console test');\n  callback(null, 'hi');\n};\n";
    transfer.items.add(new File([code], "hello.js", { type: "application/javascript" }));
    return transfer;
  });
  await page.selectOption("select[name=Kind]", "function");
  await page.dispatchEvent(".dropzone", "drop", { dataTransfer });
  await page.getByText("1 file(s) ready: hello.js").waitFor();
  await Promise.all([
    page.waitForEvent("load"),
    page.click("form[data-upload] button[type=submit]"),
  ]);
  await page.getByRole("cell", { name: "/hello", exact: true }).waitFor();
  step("a function uploaded by drag and drop");

  // Build and deploy in one step (the first build with a function installs `twilio`).
  await page.getByRole("button", { name: "Build and deploy" }).click();
  await page.getByText("Deployed: the environment now serves this build.").waitFor({ timeout: 120000 });
  step("built and deployed");
  const domainLink = page.locator("main p a").first();
  const domain = await domainLink.getAttribute("href");
  assert.match(domain, /^http:\/\/shop-\d{4}\.depot\.example:\d+\/$/);
  const firstBuild = await page.locator("main p a code").first().textContent();
  await shot(page, "environment");

  const site = await context.newPage();
  await site.goto(`${domain}index.html`);
  assert.equal(await site.locator("h1").textContent(), "Shop v1");
  step("the domain serves the page");

  // The hostile page, on the environment's domain, against the console.
  const hostile = await context.newPage();
  await hostile.goto(`${domain}hostile.html`);
  await hostile.waitForFunction(() => document.getElementById("report").textContent.includes("done"));
  const report = JSON.parse(await hostile.locator("#report").textContent());
  assert.ok(!report.cookie.includes("depot_console"), `cookie visible: ${report.cookie}`);
  assert.equal(report.read, "blocked", "the console's pages cannot be read");
  assert.ok(!/Services|csrf/.test(report.frame), `framed console readable: ${report.frame}`);
  await Promise.all([
    hostile.waitForURL(`${console_}/services`),
    hostile.evaluate(() => document.forms[0].submit()),
  ]);
  assert.match(await hostile.content(), /did not come from a console page|out of date/);
  await hostile.close();
  await page.goto(`${console_}/services`);
  assert.equal(await page.getByText("pwned").count(), 0, "the hostile page created nothing");
  step("the hostile page could not act in the console");

  // A second version of index.html, deployed; then roll back to the first build.
  await page.goto(`${serviceUrl}/files`);
  await upload(page, "asset", [
    { name: "index.html", mimeType: "text/html", buffer: Buffer.from("<h1>Shop v2</h1>") },
  ]);
  await page.getByText("2 version(s)").waitFor();
  await page.getByRole("button", { name: "Build and deploy" }).click();
  await page.getByText("Deployed: the environment now serves this build.").waitFor({ timeout: 120000 });
  await site.goto(`${domain}index.html`);
  assert.equal(await site.locator("h1").textContent(), "Shop v2");
  await page.getByRole("button", { name: `Roll back to build ${firstBuild.trim()}` }).click();
  await page.getByText("Deployed: the environment now serves this build.").waitFor();
  await site.goto(`${domain}index.html`);
  assert.equal(await site.locator("h1").textContent(), "Shop v1");
  step("rolled back to the first build");

  // Logs, followed live: the line of an invocation made after the page opened appears.
  await page.goto(`${environmentUrl}/logs`);
  await page.getByText("No logs yet").waitFor();
  await site.goto(`${domain}hello`);
  assert.equal(await site.locator("body").textContent(), "hi");
  await page.getByRole("cell", { name: "hello from the console test" }).waitFor({ timeout: 15000 });
  step("a log line appeared live");
  await shot(page, "logs");

  // Screenshots of the other main pages, then a phone-width one.
  if (screenshots) {
    await page.goto(`${console_}/services`);
    await shot(page, "services");
    await page.goto(serviceUrl);
    await shot(page, "service");
    await page.goto(`${serviceUrl}/files`);
    await shot(page, "files", true);
    await page.goto(serviceUrl);
    await page.locator("main a[href*='/builds/']").first().click();
    await shot(page, "build");
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(environmentUrl);
    await shot(page, "environment-phone");
    await page.setViewportSize({ width: 1100, height: 800 });
  }

  // Sign out: the console asks to sign in again.
  await page.goto(`${console_}/services`);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByText("You are signed out.").waitFor();
  await page.goto(`${console_}/services`);
  assert.match(page.url(), /\/console\/sign-in$/);
  step("signed out");

  // A second account sees nothing of the first.
  const other = await browser.newContext();
  const second = await other.newPage();
  await second.goto(`${console_}/sign-in`);
  await second.getByLabel("Account SID", { exact: true }).fill(process.env.SUB_SID);
  await second.getByLabel("Auth Token", { exact: true }).fill(process.env.SUB_TOKEN);
  await second.getByRole("button", { name: "Sign in", exact: true }).click();
  await second.getByText("No services yet").waitFor();
  assert.equal(await second.getByText("Shop").count(), 0);
  const foreign = await second.goto(serviceUrl);
  assert.equal(foreign.status(), 404);
  step("a second account sees nothing of the first");

  assert.deepEqual(errors, [], "no script errors on console pages");
  await browser.close();
  step("done");
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
