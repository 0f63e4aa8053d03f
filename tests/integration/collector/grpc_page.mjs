// The collector page's gRPC method table in headless Debian Chromium (playwright-core):
//   node grpc_page.mjs URL [SCREENSHOT]
// Opens URL (a ?ns= whose busiest pod made or served gRPC calls), waits until the gRPC table is
// drawn and prints JSON: {pod, rows: [{method, side, status, calls, errors, p50, streamed, end50}]}
// (cells as text).
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
  const page = await browser.newPage({ viewport: { width: 1400, height: 1300 } });
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll("#grpc tbody tr").length > 0, null, { timeout: 15000 });
  const out = await page.evaluate(() => ({
    pod: window.podlens.pod,
    rows: [...document.querySelectorAll("#grpc tbody tr")].map((r) => {
      const c = [...r.children].map((td) => td.textContent);
      return { method: r.dataset.method, side: r.dataset.side, status: c[2], calls: +c[3], errors: c[4], p50: c[5],
               streamed: c[7], end50: c[8] };
    }),
  }));
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
