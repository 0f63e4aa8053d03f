// The edge details of the collector's page in headless Debian Chromium (playwright-core):
//   node edge_details.mjs URL
// Waits for the map, clicks every edge in turn and prints one JSON line: a list of what the
// detail panel says after each click (the text of #detail), in the map's edge order.
import { createRequire } from "node:module";
const require = createRequire((process.env.PLAYWRIGHT_DIR || "/nonexistent") + "/");
const { chromium } = require("playwright-core");

const [url] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll("#map line").length > 0, null, { timeout: 20000 });
  const n = await page.evaluate(() => document.querySelectorAll("#map line").length);
  const out = [];
  for (let i = 0; i < n && i < 100; i++) {
    await page.evaluate(() => { document.getElementById("detail").textContent = ""; });
    await page.dispatchEvent(`#map line >> nth=${i}`, "click");
    await page.waitForFunction(() => document.getElementById("detail").textContent.includes("connections"), null, { timeout: 10000 });
    out.push(await page.textContent("#detail"));
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
