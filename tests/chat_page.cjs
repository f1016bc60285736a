// Drives the chat page (src/server/chat.html) in headless Chromium with playwright-core.
// Run by .ci/check-page, which installs Chromium and playwright-core and starts the server;
// this file needs BASE_URL (the server, e.g. http://127.0.0.1:40123/) and SCREENSHOT (a PNG
// path), and CHROMIUM when Chromium is not /usr/bin/chromium.
"use strict";

const assert = require("node:assert/strict");
const { chromium } = require("playwright-core");

const baseUrl = new URL(process.env.BASE_URL);
const screenshotPath = process.env.SCREENSHOT;
const timeout = 10_000;

// "tok0 tok1 ... tok{n-1} ", the text of the mock's `[mock:long n]` reply.
function longReply(deltas) {
  return Array.from({ length: deltas }, (_, i) => `tok${i} `).join("");
}

async function openPage(browser) {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.setDefaultTimeout(timeout);
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") {
      problems.push(`console error: ${message.text()}`);
    }
  });
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.protocol !== "data:" && url.origin !== baseUrl.origin) {
      problems.push(`request to another origin: ${request.url()}`);
    }
  });
  return { page, problems };
}

// Records the length of the last assistant message every time the transcript changes, so the
// test sees each step the reply grew by, however fast the deltas come.
async function recordGrowth(page) {
  await page.evaluate(() => {
    window.__lengths = [];
    const transcript = document.getElementById("transcript");
    new MutationObserver(() => {
      const bodies = transcript.querySelectorAll(".message.assistant .body");
      const last = bodies[bodies.length - 1];
      if (last) {
        window.__lengths.push(last.textContent.length);
      }
    }).observe(transcript, { subtree: true, childList: true, characterData: true });
  });
}

async function waitIdle(page) {
  await page.waitForFunction(() => document.body.dataset.state === "idle");
}

async function lastAssistantText(page) {
  return page.locator(".message.assistant .body").last().textContent();
}

const tests = {
  async "the page loads with its controls and no outside resources"(browser) {
    const { page, problems } = await openPage(browser);
    const response = await page.goto(baseUrl.href);
    assert.equal(response.status(), 200);
    assert.match(response.headers()["content-type"], /^text\/html/);
    assert.equal(await page.title(), "bedrock-sse chat");
    assert.equal(await page.locator("label[for=prompt]").count(), 1);
    assert.equal(await page.locator("#transcript").getAttribute("aria-live"), "polite");
    assert.equal(await page.locator("#send").isEnabled(), true);
    assert.equal(await page.locator("#stop").isEnabled(), false);
    assert.deepEqual(problems, []);
    await page.close();
  },

  async "the page's SSE parser follows the WHATWG rules, however the bytes are split"(browser) {
    const { page, problems } = await openPage(browser);
    await page.goto(baseUrl.href);
    const stream =
      "\ufeffdata: a\r\n\r\n" +
      "data:b\rdata:  c\r\r" +
      ": a comment\ndata\n\n" +
      "event: done\r\nid: 7\r\ndata: {}\r\nretry: 10\r\n\r\n" +
      "event: ignored without data\n\n" +
      "data: 日本語 👋🏽\n\n" +
      "data: cut off by the end of the stream";
    const expected = [
      { type: "message", data: "a" },
      { type: "message", data: "b\n c" },
      { type: "message", data: "" },
      { type: "done", data: "{}" },
      { type: "message", data: "日本語 👋🏽" },
    ];
    const results = await page.evaluate((stream) => {
      const bytes = new TextEncoder().encode(stream);
      const runs = [];
      // Whole, then split at every byte (as the network may), decoded like the page does.
      const splits = [[]].concat(Array.from({ length: bytes.length - 1 }, (_, i) => [i + 1]));
      splits.push(Array.from({ length: bytes.length - 1 }, (_, i) => i + 1));
      for (const cuts of splits) {
        const events = [];
        const parser = createSseParser((event) => events.push({ type: event.type, data: event.data }));
        const decoder = new TextDecoder();
        let from = 0;
        for (const cut of cuts.concat([bytes.length])) {
          const text = decoder.decode(bytes.subarray(from, cut), { stream: true });
          if (text) {
            parser.push(text);
          }
          from = cut;
        }
        runs.push(events);
      }
      return runs;
    }, stream);
    for (const events of results) {
      assert.deepEqual(events, expected);
    }

    // The browser's own EventSource, an independent parser, reads the server's trickiest text
    // reply (CR, CRLF split across deltas, lines that look like SSE fields) exactly as the
    // page's parser does.
    const [fromEventSource, fromPage] = await page.evaluate(async () => {
      const url = "stream?format=text&message=" + encodeURIComponent("[mock:unicode]");
      const viaEventSource = await new Promise((resolve, reject) => {
        const events = [];
        const source = new EventSource(url);
        source.onmessage = (event) => events.push(event.data);
        source.addEventListener("done", () => {
          source.close();
          resolve(events);
        });
        source.onerror = () => {
          source.close();
          reject(new Error("EventSource error after " + events.length + " events"));
        };
      });
      const viaPage = [];
      const parser = createSseParser((event) => {
        if (event.type === "message") {
          viaPage.push(event.data);
        }
      });
      const response = await fetch(url);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        parser.push(value);
      }
      return [viaEventSource, viaPage];
    });
    assert.ok(fromEventSource.length > 5, `${fromEventSource.length} events`);
    assert.deepEqual(fromPage, fromEventSource);
    assert.deepEqual(problems, []);
    await page.close();
  },

  async "a reply streams in, grows in steps, and the conversation is kept"(browser) {
    const { page, problems } = await openPage(browser);
    const bodies = [];
    page.on("request", (request) => {
      if (request.method() === "POST") {
        bodies.push({ url: request.url(), body: JSON.parse(request.postData()) });
      }
    });
    await page.goto(baseUrl.href);
    await recordGrowth(page);

    const prompt = "[mock:long 30 pace=30] count for me";
    await page.locator("#prompt").fill(prompt);
    await page.locator("#send").click();
    await page.locator(".message.assistant").waitFor();
    // While the reply streams, Send is off and Stop is on.
    await page.waitForFunction(() => document.body.dataset.state === "streaming");
    assert.equal(await page.locator("#send").isDisabled(), true);
    assert.equal(await page.locator("#stop").isEnabled(), true);
    await waitIdle(page);

    const expected = longReply(30);
    assert.equal(await lastAssistantText(page), expected);
    const lengths = await page.evaluate(() => window.__lengths);
    const partial = new Set(lengths.filter((n) => n > 0 && n < expected.length));
    assert.ok(partial.size >= 2, `only ${partial.size} partial lengths seen: ${lengths}`);
    assert.match(await page.locator(".message.assistant .meta").last().textContent(), /tokens/);
    assert.equal(await page.locator(".message.user .body").first().textContent(), prompt);
    assert.equal(await page.locator("#send").isEnabled(), true);
    assert.equal(await page.locator("#stop").isEnabled(), false);

    // The second turn carries the first one, and Enter sends.
    await page.locator("#prompt").fill("[mock:echo] and again");
    await page.locator("#prompt").press("Enter");
    await page.locator(".message.assistant").nth(1).waitFor();
    await waitIdle(page);
    assert.equal(await lastAssistantText(page), "and again");
    assert.equal(bodies.length, 2);
    assert.equal(new URL(bodies[1].url).pathname, "/stream");
    assert.equal(new URL(bodies[1].url).search, "?format=text");
    assert.deepEqual(bodies[1].body, {
      messages: [
        { role: "user", content: prompt },
        { role: "assistant", content: expected },
        { role: "user", content: "[mock:echo] and again" },
      ],
    });
    assert.deepEqual(problems, []);
    await page.close();
  },

  async "an error mid-stream is shown and the page recovers"(browser) {
    const { page, problems } = await openPage(browser);
    await page.goto(baseUrl.href);
    await page.locator("#prompt").fill("[mock:stream-error 2 throttlingException]");
    await page.locator("#send").click();
    const error = page.locator(".error");
    await error.waitFor({ state: "visible" });
    await waitIdle(page);
    assert.match(await error.textContent(), /throttling/i);
    assert.equal(await lastAssistantText(page), "tok0 tok1 ");

    // An error before the stream (a JSON body with a non-200 status) is shown too.
    await page.locator("#prompt").fill("[mock:http-error 400 ValidationException Bad input]");
    await page.locator("#send").click();
    await page.locator(".error").nth(1).waitFor({ state: "visible" });
    await waitIdle(page);
    assert.match(await page.locator(".error").nth(1).textContent(), /400.*Bad input/);

    // The page still works afterwards.
    await page.locator("#prompt").fill("still here");
    await page.locator("#send").click();
    await page.locator(".message.assistant", { hasText: "still here" }).waitFor();
    await waitIdle(page);
    await page.screenshot({ path: screenshotPath, fullPage: true });
    // The browser logs failed fetches of non-200 responses as console errors; only those
    // are expected here.
    const unexpected = problems.filter((p) => !/status of 400/.test(p));
    assert.deepEqual(unexpected, []);
    await page.close();
  },

  async "Stop ends a reply and keeps what arrived"(browser) {
    const { page, problems } = await openPage(browser);
    await page.goto(baseUrl.href);
    await page.locator("#prompt").fill("[mock:long 400 pace=20]");
    await page.locator("#send").click();
    await page.waitForFunction(() => {
      const body = document.querySelector(".message.assistant .body");
      return body && body.textContent.length > 10;
    });
    await page.locator("#stop").click();
    await page.locator(".note", { hasText: "Stopped" }).waitFor();
    await waitIdle(page);
    const text = await lastAssistantText(page);
    assert.ok(text.startsWith("tok0 ") && text.length < longReply(400).length, text);
    assert.equal(await page.locator("#send").isEnabled(), true);
    assert.equal(await page.locator(".error").count(), 0);
    assert.deepEqual(problems, []);
    await page.close();
  },

  async "relative URLs work under a path prefix such as an API Gateway stage"(browser) {
    const { page } = await openPage(browser);
    // Serve the server's routes under /prod/ by rewriting requests in the browser.
    const posted = [];
    await page.route(/\/prod(\/|$)/, async (route) => {
      const url = new URL(route.request().url());
      if (route.request().method() === "POST") {
        posted.push(url.pathname + url.search);
      }
      url.pathname = url.pathname.replace(/^\/prod\/?/, "/");
      const response = await route.fetch({ url: url.href });
      await route.fulfill({ response });
    });
    for (const entry of ["prod/", "prod"]) {
      await page.goto(new URL(entry, baseUrl).href);
      await page.locator("#prompt").fill(`via ${entry}`);
      await page.locator("#send").click();
      await page.locator(".message.assistant", { hasText: `via ${entry}` }).waitFor();
      await waitIdle(page);
    }
    assert.deepEqual(posted, ["/prod/stream?format=text", "/prod/stream?format=text"]);
    await page.close();
  },

  async "an API key, when given, is sent as x-api-key"(browser) {
    const { page } = await openPage(browser);
    const keys = [];
    page.on("request", (request) => {
      if (request.method() === "POST") keys.push(request.headers()["x-api-key"] ?? null);
    });
    await page.goto(baseUrl.href);
    await page.locator("#prompt").fill("no key");
    await page.locator("#send").click();
    await page.locator(".message.assistant", { hasText: "no key" }).waitFor();
    await waitIdle(page);
    await page.locator("#settings summary").click();
    await page.locator("#api-key").fill("  k3y  ");
    await page.locator("#api-key").dispatchEvent("change");
    await page.locator("#prompt").fill("with key");
    await page.locator("#send").click();
    await page.locator(".message.assistant", { hasText: "with key" }).waitFor();
    await waitIdle(page);
    assert.deepEqual(keys, [null, "k3y"]);
    await page.close();
  },
};

async function main() {
  // launch() starts Chromium headless with a new, empty profile directory of its own.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  let passed = 0;
  let failed = 0;
  try {
    for (const [name, test] of Object.entries(tests)) {
      const started = Date.now();
      try {
        await test(browser);
        passed++;
        console.log(`ok   ${name} (${Date.now() - started} ms)`);
      } catch (error) {
        failed++;
        console.log(`FAIL ${name} (${Date.now() - started} ms)\n${error.stack}`);
      }
    }
  } finally {
    await browser.close();
  }
  console.log(`page: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
