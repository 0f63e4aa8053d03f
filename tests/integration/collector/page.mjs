// Drive the collector's page in headless Debian Chromium (playwright-core, no browser download):
//   node page.mjs URL TOKEN SCREENSHOT
// Prints one JSON line: namespaces offered, pods listed, canvases drawn (non-background pixels),
// service-map edges, and the page's status text. The shell suite checks the values.
import { createRequire } from "node:module";
const require = createRequire(process.env.PLAYWRIGHT_DIR + "/");
const { chromium } = require("playwright-core");

const [url, token, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const external = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("request", (r) => { if (!r.url().startsWith(new URL(url).origin)) external.push(r.url()); });
  await page.goto(url + "#token=" + encodeURIComponent(token));
  await page.waitForFunction(() => window.podlens && window.podlens.draws >= 2 &&
    document.querySelectorAll("#pods tbody tr").length > 0 &&
    document.querySelectorAll("#map line").length > 0, null, { timeout: 15000 });
  const result = await page.evaluate(() => {
    const inked = (id) => {
      const c = document.getElementById(id), g = c.getContext("2d");
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    };
    return {
      namespaces: [...document.querySelectorAll("#ns option")].map((o) => o.value),
      pods: [...document.querySelectorAll("#pods tbody tr")].map((r) => r.dataset.pod),
      selected: window.podlens.pod,
      lat_pixels: inked("lat"),
      traffic_pixels: inked("traffic"),
      edges: document.querySelectorAll("#map line").length,
      status: document.getElementById("status").textContent,
    };
  });
  result.external_requests = external.length;
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
