// The collector page's DNS section in headless Debian Chromium (playwright-core):
//   node dns_page.mjs URL [SCREENSHOT]
// Opens URL (a ?ns= whose busiest pod has DNS lookups), waits until the DNS table is drawn and
// prints JSON: {pod, rows: [{domain, side, queries, nxdomain, errors, timeouts}], summary: [text]}.
import { createRequire } from "node:module";
const require = createRequire(process.env.PLAYWRIGHT_DIR + "/");
const { chromium } = require("playwright-core");

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll("#dns tbody tr").length > 0, null, { timeout: 15000 });
  const out = await page.evaluate(() => ({
    pod: window.podlens.pod,
    rows: [...document.querySelectorAll("#dns tbody tr")].map((r) => {
      const c = [...r.children].map((td) => td.textContent);
      return { domain: r.dataset.domain, side: c[1], queries: +c[2], nxdomain: +c[3], errors: +c[4], timeouts: +c[5] };
    }),
    summary: [...document.querySelectorAll("#dnssum div")].map((d) => d.textContent),
  }));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
