// The collector's page as a token's holder sees it, in headless Debian Chromium (playwright-core):
//   node page_text.mjs URL TOKEN
// Waits until the pod table and the service map are drawn, then prints every piece of text the
// page shows: the visible text, the namespace options (values and labels), the pod rows' data
// attributes and the map's labels, one per line. The shell suite greps it for what must not be there.
import { createRequire } from "node:module";
const require = createRequire(process.env.PLAYWRIGHT_DIR + "/");
const { chromium } = require("playwright-core");

const [url, token] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url + "#token=" + encodeURIComponent(token));
  await page.waitForFunction(() => window.podlens && window.podlens.draws >= 2 &&
    document.querySelectorAll("#pods tbody tr").length > 0 &&
    document.querySelectorAll("#map line").length > 0, null, { timeout: 15000 });
  const lines = await page.evaluate(() => [
    document.body.innerText,
    ...[...document.querySelectorAll("#ns option")].flatMap((o) => [o.value, o.textContent]),
    ...[...document.querySelectorAll("#pods tbody tr")].map((r) => JSON.stringify(r.dataset)),
    ...[...document.querySelectorAll("#map text")].map((t) => t.textContent),
  ]);
  console.log(lines.join("\n"));
} finally {
  await browser.close();
}
