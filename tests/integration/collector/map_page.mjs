// The service map of the collector's page in headless Debian Chromium (playwright-core):
//   node map_page.mjs URL SCREENSHOT [TOKEN]
// Waits for the map, then prints one JSON line: the namespace the page opened on (and the one in
// its URL), the ends drawn, the edges, how many pairs of ends overlap, labels longer than 22
// characters, ends whose tooltip does not hold the full name, the distinct edge widths and
// colours, what the detail panel says after a click on an end and on an edge.
import { createRequire } from "node:module";
const require = createRequire((process.env.PLAYWRIGHT_DIR || "/nonexistent") + "/");
const { chromium } = require("playwright-core");

const [url, shot, token] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await page.goto(url + (token ? "#token=" + encodeURIComponent(token) : ""));
  await page.waitForFunction(() => document.querySelectorAll("#map g.node").length > 0 &&
    document.querySelectorAll("#map line").length > 0, null, { timeout: 20000 });
  const result = await page.evaluate(() => {
    const nodes = [...document.querySelectorAll("#map g.node")];
    const boxes = nodes.map((g) => g.querySelector("rect").getBoundingClientRect());
    let overlaps = 0;
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i], b = boxes[j];
        if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
      }
    const lines = [...document.querySelectorAll("#map line")];
    return {
      ns: window.podlens.ns,
      url_ns: new URLSearchParams(location.search).get("ns"),
      nodes: nodes.map((g) => g.dataset.id),
      edges: lines.length,
      overlaps,
      long_labels: nodes.filter((g) => g.querySelector("text").textContent.length > 22).length,
      bad_tooltips: nodes.filter((g) => g.querySelector("title").textContent.split(" ")[0] !== g.dataset.id).length,
      widths: new Set(lines.map((l) => l.getAttribute("stroke-width"))).size,
      colours: [...new Set(lines.map((l) => l.getAttribute("stroke")))].sort(),
    };
  });
  // a click on a pod shows that pod; a click on an edge shows its figures
  const pod = result.nodes.find((id) => /^[a-z0-9-]+\/[a-z0-9-]+$/.test(id) && id.includes("/"));
  await page.click(`#map g.node[data-id="${pod}"]`);
  await page.waitForFunction((id) => document.getElementById("detail").textContent.startsWith(id), pod, { timeout: 10000 });
  result.node_click = { pod, detail: await page.textContent("#detail"),
                        selected: await page.evaluate(() => window.podlens.podNs + "/" + window.podlens.pod) };
  await page.dispatchEvent("#map line >> nth=0", "click");
  await page.waitForFunction(() => document.getElementById("detail").textContent.includes("connections"), null, { timeout: 10000 });
  result.edge_click = await page.textContent("#detail");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
