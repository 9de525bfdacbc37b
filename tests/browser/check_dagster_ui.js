// Drives the Dagster UI (a running `interop-pipeline ui`) in headless Chromium (the system's,
// through playwright-core) as a data engineer would, and prints, as one JSON object, what each
// page showed. tests/test_dagster_ui.py asserts on it.
//
//   node check_dagster_ui.js BASE_URL SPEC_JSON
//
// SPEC_JSON names what to open and click:
//   job                the job to launch from its page with "Materialize all"; its run page is
//                      read once the run has ended (run_timeout_s)
//   lineage_filter     a selection typed into the global lineage page's search box; its groups
//                      are expanded and the asset nodes drawn are reported
//   downstream_filter  another selection for that box (a source's group and all downstream)
//   group, group_asset a source's group, filtered to on the lineage page, and one of its
//                      landing assets, selected there
//   check_assets       assets whose Checks tab is read once the run has ended
//   release_asset      the asset whose metadata is read once the run has ended
//   screenshots        a folder for a screenshot of each page and of a failure
// CHROMIUM overrides the browser (default /usr/bin/chromium).
const path = require("path");
const { chromium } = require("playwright-core");

const WAIT = 60000; // a busy two-core machine: pages and GraphQL answers can take a while

function assetUrl(base, key) {
  return `${base}/assets/${key.split("/").map(encodeURIComponent).join("/")}`;
}

// Whatever the page lists of buttons, menu items or tabs, as their visible text, trimmed.
async function texts(locator) {
  return (await locator.allInnerTexts()).map((t) => t.trim()).filter(Boolean);
}

async function typeSelection(page, selection) {
  await page.locator(".CodeMirror").first().click();
  await page.keyboard.type(selection);
  await page.keyboard.press("Enter");
}

async function main() {
  const [base, specJson] = process.argv.slice(2);
  if (!base || !specJson) throw new Error("usage: node check_dagster_ui.js BASE_URL SPEC_JSON");
  const spec = JSON.parse(specJson);
  const shots = spec.screenshots;
  const seen = { console_errors: [], page_errors: [] };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1200 } });
  page.setDefaultTimeout(WAIT);
  page.on("console", (message) => {
    if (message.type() === "error") seen.console_errors.push(message.text());
  });
  page.on("pageerror", (error) => seen.page_errors.push(String(error)));
  // Dagster asks a new instance's first visitor to join its community: dismiss it wherever it shows.
  await page.addLocatorHandler(page.getByText("Join the Dagster community"), async () => {
    await page.getByRole("button", { name: "Skip" }).click();
  });
  const shot = async (name) => shots && page.screenshot({ path: path.join(shots, `${name}.png`) });

  try {
    // The left navigation the runbook sends people through.
    await page.goto(`${base}/jobs`, { waitUntil: "load" });
    const jobLink = page.locator(`a[href$="/jobs/${spec.job}"]`);
    await jobLink.waitFor();
    seen.navigation = await texts(page.locator("nav a"));

    // Jobs page: every job, then the one to launch, from its own page.
    seen.jobs = await texts(page.locator('a[href*="/jobs/"]'));
    await shot("jobs");
    await jobLink.click();
    const launch = page.getByRole("button", { name: "Materialize all" });
    await launch.waitFor();
    seen.job_page_button = (await launch.innerText()).trim();
    await launch.click();
    const toast = page.locator('a[href^="/runs/"]', { hasText: "View" });
    await toast.first().waitFor({ timeout: 2 * WAIT });
    seen.launched_toast = (await page.getByText("Launched run").first().innerText()).trim();
    const runHref = await toast.first().getAttribute("href");
    seen.run_id = runHref.split("/runs/")[1].split(/[?#/]/)[0];
    await shot("launched");

    // While it runs: the global asset lineage.
    await page.goto(`${base}/asset-groups`, { waitUntil: "load" });
    await page.getByText("Global asset lineage").waitFor();
    await page.locator('[class*="AssetSidebarNode_itemContainer"] [title]').first().waitFor();
    seen.lineage = {
      sidebar_groups: await page
        .locator('[class*="AssetSidebarNode_itemContainer"] [title]')
        .evaluateAll((nodes) => nodes.map((n) => n.getAttribute("title"))),
      materialize_button: (await page.getByRole("button", { name: "Materialize all" }).innerText()).trim(),
    };
    await page.locator("svg foreignObject").first().waitFor();
    seen.lineage.graph_boxes = await page.locator("svg foreignObject").count();
    await shot("lineage");
    await typeSelection(page, spec.lineage_filter);
    await page.waitForURL(/asset-groups~/);
    await page.getByRole("button", { name: "settings", exact: true }).click();
    await page.getByRole("menuitem", { name: /Expand all groups/ }).click();
    await page.keyboard.press("Escape");
    await page.locator('[class*="AssetNode_assetName"]').first().waitFor();
    await page.waitForTimeout(1000); // the layout settles
    seen.lineage.filter_url = page.url();
    seen.lineage.filtered_nodes = await texts(page.locator('[class*="AssetNode_assetName"]'));
    seen.lineage.filtered_edges = await page.locator("svg path").count();
    await shot("lineage_filtered");

    // A source and everything downstream of it, as the runbook's re-run says (not launched).
    await page.goto(`${base}/asset-groups`, { waitUntil: "load" });
    await page.getByText("Global asset lineage").waitFor();
    await typeSelection(page, spec.downstream_filter);
    await page.waitForURL(/asset-groups~/);
    seen.downstream = {
      filter_url: page.url(),
      materialize_button: (await page.getByRole("button", { name: "Materialize all" }).innerText()).trim(),
      sidebar_groups: await page
        .locator('[class*="AssetSidebarNode_itemContainer"] [title]')
        .evaluateAll((nodes) => nodes.map((n) => n.getAttribute("title"))),
    };
    await shot("lineage_downstream");

    // A source's group on the lineage page: one of its landing assets selected, "Materialize
    // selected" lists the source's other landing assets (one step lands them all) and asks to
    // confirm; cancelled here.
    await page.goto(`${base}/asset-groups`, { waitUntil: "load" });
    await page.getByText("Global asset lineage").waitFor();
    await typeSelection(page, `group:"${spec.group}"`);
    await page.waitForURL(/asset-groups~/);
    await page.locator('[class*="AssetNode_assetName"]').first().waitFor();
    seen.group = {
      filter_url: page.url(),
      nodes: await texts(page.locator('[class*="AssetNode_assetName"]')),
      sidebar: await page
        .locator('[class*="AssetSidebarNode_itemContainer"] [title]')
        .evaluateAll((items) => items.map((item) => item.getAttribute("title"))),
    };
    // The asset picked from the list beside the graph (the graph centres on it).
    const groupAsset = spec.group_asset.split("/").pop();
    const listed = page.locator(`[class*="AssetSidebarNode_itemContainer"] [title="${groupAsset}"]`);
    await listed.first().click();
    const selected = page.getByRole("button", { name: "Materialize selected" });
    await selected.waitFor();
    seen.group.selected_url = page.url();
    seen.group.materialize_button = (await selected.innerText()).trim();
    await shot("group_selected");
    await selected.click();
    const dialog = page.getByRole("dialog").filter({ hasText: "Additional assets will be materialized" });
    await dialog.waitFor();
    seen.group.confirm_dialog = {
      text: (await dialog.innerText()).trim(),
      buttons: await texts(dialog.getByRole("button")),
    };
    await shot("group_confirm");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });

    // Until the run ends, its status is asked of the webserver (the API the pages use) from a
    // blank page, rather than watched on the run page: that page draws every one of the run's
    // events live (and the lineage page its assets' states), which on a two-core machine takes
    // CPU from the run itself. Then the run page, as it shows the end.
    await page.goto("about:blank");
    const waiting = Date.now();
    // A slow or failed answer (a busy machine) is asked again at the next poll.
    const runStatus = async () => {
      const query = `{ runOrError(runId: "${seen.run_id}") { ... on Run { status } } }`;
      try {
        const answer = await page.request.post(`${base}/graphql`, { data: { query }, timeout: WAIT });
        return (await answer.json()).data.runOrError.status;
      } catch (error) {
        return null;
      }
    };
    while (!["SUCCESS", "FAILURE", "CANCELED"].includes(await runStatus())) {
      if (Date.now() - waiting > spec.run_timeout_s * 1000) break;
      await page.waitForTimeout(3000);
    }
    await page.goto(`${base}/runs/${seen.run_id}`, { waitUntil: "load" });
    await page.getByText("Run of").first().waitFor();
    const statusTag = page.locator('[class*="Tag"]').filter({
      hasText: /^(Queued|Not started|Starting|Started|Success|Failure|Canceling|Canceled)$/,
    });
    await statusTag.first().waitFor();
    const status = (await texts(statusTag))[0] || null;
    seen.run = { status, waited_s: (Date.now() - waiting) / 1000 };
    await shot("run");
    if (status !== "Success") return seen; // what follows reads what a successful run leaves

    // The Runs page lists it, with its job and status.
    await page.goto(`${base}/runs`, { waitUntil: "load" });
    const runLink = page.locator(`a[href^="/runs/${seen.run_id}"]`).first();
    await runLink.waitFor();
    seen.runs_page = {
      tabs: await texts(page.getByRole("tab")),
      // The run's row: the smallest element around its link that also names the job.
      row: await runLink.evaluate((link, job) => {
        let row = link;
        while (row && !row.innerText.includes(job)) row = row.parentElement;
        return row ? row.innerText.trim() : null;
      }, spec.job),
    };
    await shot("runs");

    // Asset pages: their tabs, and on the Checks tab each check with its latest status.
    const checkRows = '[class*="AssetChecks_checkRow"]';
    seen.checks_after_run = {};
    for (const key of spec.check_assets) {
      await page.goto(assetUrl(base, key), { waitUntil: "load" });
      const tab = page.getByRole("tab", { name: /^Checks/ });
      await tab.waitFor();
      const tabs = await texts(page.getByRole("tab"));
      await tab.click();
      await page.waitForURL(/view=checks/);
      const heading = page.getByText(/^Checks \(\d+\)$/).first();
      await heading.waitFor();
      const count = Number((await heading.innerText()).match(/\d+/)[0]);
      await page.waitForFunction(([rows, n]) => document.querySelectorAll(rows).length >= n, [checkRows, count]);
      const listed = (await page.locator(checkRows).allInnerTexts()).map((row) => {
        const lines = row.split("\n").map((line) => line.trim()).filter(Boolean);
        return { name: lines[0], status: lines.length > 1 ? lines[lines.length - 1] : null };
      });
      seen.checks_after_run[key] = { tabs, count, listed };
    }
    await shot("checks");

    // The release's metadata, on its Overview.
    await page.goto(assetUrl(base, spec.release_asset), { waitUntil: "load" });
    await page.getByText("table_rows").first().waitFor();
    seen.release_overview = await page.locator("body").innerText();
    await shot("release");
  } catch (error) {
    await shot("failure").catch(() => {});
    seen.failed_at = page.url();
    process.stderr.write(JSON.stringify(seen).slice(0, 20000) + "\n");
    throw error;
  } finally {
    await browser.close();
  }
  return seen;
}

main()
  .then((seen) => process.stdout.write(JSON.stringify(seen) + "\n"))
  .catch((error) => {
    process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
    process.exit(1);
  });
