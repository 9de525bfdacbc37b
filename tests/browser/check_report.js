// Opens a report file in headless Chromium (the system's, through playwright-core) and prints,
// as one JSON object, what the page did: each chart's size and mark count, console errors,
// page errors and every request it made. tests/publish/test_report.py asserts on it.
//
//   node check_report.js REPORT.html [--screenshot OUT.png]
// CHROMIUM overrides the browser (default /usr/bin/chromium).
const path = require("path");
const { pathToFileURL } = require("url");
const { chromium } = require("playwright-core");

async function main() {
  const [report, flag, screenshot] = process.argv.slice(2);
  if (!report) throw new Error("usage: node check_report.js REPORT.html [--screenshot OUT.png]");
  const url = pathToFileURL(path.resolve(report)).href;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests = [];
    const consoleErrors = [];
    const pageErrors = [];
    page.on("request", (request) => requests.push(request.url()));
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push(message.text());
    });
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    await page.goto(url, { waitUntil: "load" });
    const charts = await page.$$eval("figure.chart", (figures) =>
      figures.map((figure) => {
        const svg = figure.querySelector("svg");
        const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
        const marks = svg ? Array.from(svg.querySelectorAll("g.role-mark")) : [];
        const drawn = marks.flatMap((group) => Array.from(group.children)).filter((mark) => {
          const b = mark.getBoundingClientRect();
          return b.width > 0 || b.height > 0;
        });
        return {
          name: figure.dataset.chart,
          width: box.width,
          height: box.height,
          mark_groups: marks.length,
          marks_drawn: drawn.length,
        };
      })
    );
    const noData = await page.$$eval(".no-data", (nodes) => nodes.map((node) => node.textContent));
    if (flag === "--screenshot" && screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    process.stdout.write(JSON.stringify({ url, charts, no_data: noData, requests, console_errors: consoleErrors, page_errors: pageErrors }) + "\n");
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
  process.exit(1);
});
