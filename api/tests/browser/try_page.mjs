// Drives the try page in Chromium as a person would: gets a token for a
// made-up user, picks a picture, drags the crop box to the right edge and
// shrinks it, uploads, waits for the avatar at every size, keeps the
// largest one and a screenshot, then deletes the avatar.
//
//   node try_page.mjs BASE_URL PICTURE SCREENSHOT.png AVATAR.jpg [PHONE.heic]
//
// With a HEIC, which Chromium cannot show, it then uploads that too,
// without a preview or a crop box, and deletes it. Prints one JSON object: the token and
// user, the crop the page sent, the sizes it showed, what it said after
// deleting, and for the HEIC what the page said and showed.

import { writeFile } from "node:fs/promises";
import { chromium } from "playwright-core";

const [base, picture, screenshot, avatarFile, heic] = process.argv.slice(2);

/// Waits until the page shows the avatar, every size of it loaded.
async function everySizeShown(page) {
  await page.waitForFunction(
    () => {
      const images = [...document.querySelectorAll("#sizes img")];
      return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
    },
    null,
    { timeout: 60_000 },
  );
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  await page.goto(`${base}/try`);

  await page.click("#dev-token");
  await page.waitForFunction(() => document.getElementById("token").value.length > 0);
  const token = await page.inputValue("#token");
  const user = await page.inputValue("#user");

  await page.setInputFiles("#file", picture);
  await page.waitForSelector("#stage:not([hidden])");
  const preview = await page.locator("#preview").boundingBox();
  let box = await page.locator("#box").boundingBox();
  // Shrink the centred square to 70 % by its corner, then drag it to the
  // top right corner of the picture.
  const handle = await page.locator("#handle").boundingBox();
  await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
  await page.mouse.down();
  await page.mouse.move(handle.x - box.width * 0.3, handle.y - box.height * 0.3, { steps: 8 });
  await page.mouse.up();
  box = await page.locator("#box").boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + preview.width, box.y - preview.height, { steps: 12 });
  await page.mouse.up();
  const crop = await page.textContent("#crop");

  const statuses = new Set();
  await page.exposeFunction("sawStatus", (status) => statuses.add(status));
  await page.evaluate(() => {
    new MutationObserver(() => window.sawStatus(document.body.dataset.jobStatus)).observe(document.body, {
      attributes: true,
      attributeFilter: ["data-job-status"],
    });
  });
  await page.click("#upload");
  await everySizeShown(page);
  const shown = await page.$$eval("#sizes img", (images) =>
    images.map((img) => ({
      side: Number(img.dataset.side),
      src: img.src,
      naturalWidth: img.naturalWidth,
      placeholderPainted: getComputedStyle(img).backgroundImage.startsWith('url("data:image/png'),
    })),
  );
  const state = await page.textContent("#state");
  await page.screenshot({ path: screenshot, fullPage: true });
  const largest = shown.reduce((a, b) => (b.side > a.side ? b : a));
  const avatar = await page.request.get(largest.src);
  await writeFile(avatarFile, await avatar.body());

  await page.click("#delete");
  await page.waitForFunction(() => document.getElementById("state").textContent.startsWith("Deleted"));
  const afterDelete = await page.textContent("#state");

  let phone = null;
  if (heic) {
    await page.setInputFiles("#file", heic);
    await page.waitForSelector("#no-preview:not([hidden])");
    const said = await page.textContent("#crop");
    await page.click("#upload");
    await everySizeShown(page);
    const sides = await page.$$eval("#sizes img", (images) => images.map((img) => img.naturalWidth));
    phone = { said, sides };
    await page.click("#delete");
    await page.waitForFunction(() => document.getElementById("state").textContent.startsWith("Deleted"));
  }

  console.log(
    JSON.stringify({ token, user, crop, shown, state, statuses: [...statuses], afterDelete, phone, errors }),
  );
} finally {
  await browser.close();
}
