// The try page: a token, a picture with a square crop box over it, an
// upload with its progress, the job's state, and the avatar at every size
// with its ThumbHash placeholder painted first. Nothing is loaded from
// anywhere but this service.
"use strict";

const $ = (id) => document.getElementById(id);
const api = "/api/public";
let file = null;
// The crop as fractions of the upright picture, or null for none.
let crop = null;

function say(text, isError) {
  $("state").textContent = text;
  $("state").classList.toggle("error", Boolean(isError));
}

function headers() {
  return { Authorization: "Bearer " + $("token").value.trim() };
}

function user() {
  return encodeURIComponent($("user").value.trim() || "me");
}

/// The message of an error answer, or its status.
async function problem(response) {
  try {
    const body = await response.json();
    if (body && body.error) return `${body.error.message} (${response.status} ${body.error.code})`;
  } catch (_) {
    // Not JSON: the status says it.
  }
  return `the service answered ${response.status}`;
}

// 1. A token for a made-up user, where the service offers them.
if (document.body.dataset.devTokens === "true") {
  $("dev-token").hidden = false;
  $("dev-token").addEventListener("click", async () => {
    const response = await fetch("/try/token", { method: "POST" });
    if (!response.ok) return say(await problem(response), true);
    const made = await response.json();
    $("token").value = made.token;
    $("user").value = made.userId;
    say(`A token for ${made.userId}, valid for an hour.`);
  });
}

// 2. The picture and its crop box.
function choose(chosen) {
  if (!chosen) return;
  file = chosen;
  crop = null;
  $("upload").disabled = false;
  $("no-preview").hidden = true;
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.onload = () => {
    $("stage").hidden = false;
    const side = Math.min(preview.clientWidth, preview.clientHeight);
    place((preview.clientWidth - side) / 2, (preview.clientHeight - side) / 2, side);
  };
  preview.onerror = () => {
    $("stage").hidden = true;
    $("no-preview").hidden = false;
    $("crop").textContent = "none: the service places the square";
  };
  preview.src = URL.createObjectURL(file);
  say(`${file.name}, ${Math.round(file.size / 1024)} KiB: place the square, then upload.`);
}

$("file").addEventListener("change", (event) => choose(event.target.files[0]));
const drop = $("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  choose(event.dataTransfer.files[0]);
});

/// Puts the box at `left`, `top` with side `side`, in displayed pixels,
/// kept inside the picture, and records the crop it stands for.
function place(left, top, side) {
  const preview = $("preview");
  const [width, height] = [preview.clientWidth, preview.clientHeight];
  side = Math.max(16, Math.min(side, width, height));
  left = Math.max(0, Math.min(left, width - side));
  top = Math.max(0, Math.min(top, height - side));
  const box = $("box").style;
  box.left = `${left}px`;
  box.top = `${top}px`;
  box.width = box.height = `${side}px`;
  // Rounded down, so that the crop never reaches past the picture's edge.
  const round = (x) => Math.floor(x * 10000) / 10000;
  crop = [left / width, top / height, side / width, side / height].map(round);
  // A box over the whole of a side is still a crop: the client chose it.
  $("crop").textContent = crop.join(",");
}

function box() {
  const style = $("box").style;
  return [parseFloat(style.left), parseFloat(style.top), parseFloat(style.width)];
}

let dragging = null;
$("box").addEventListener("pointerdown", (event) => {
  event.preventDefault();
  $("box").setPointerCapture(event.pointerId);
  const [left, top, side] = box();
  const resizing = event.target === $("handle");
  dragging = { x: event.clientX, y: event.clientY, left, top, side, resizing };
});
$("box").addEventListener("pointermove", (event) => {
  if (!dragging) return;
  const [dx, dy] = [event.clientX - dragging.x, event.clientY - dragging.y];
  if (dragging.resizing) {
    place(dragging.left, dragging.top, dragging.side + Math.max(dx, dy));
  } else {
    place(dragging.left + dx, dragging.top + dy, dragging.side);
  }
});
for (const end of ["pointerup", "pointercancel"]) {
  $("box").addEventListener(end, () => {
    dragging = null;
  });
}

// 3. The upload, then the job until it ends.
$("upload").addEventListener("click", () => {
  if (!file) return;
  const query = new URLSearchParams({ wait: "0" });
  if (crop) query.set("crop", crop.join(","));
  const form = new FormData();
  form.append("avatar", file);
  const request = new XMLHttpRequest();
  request.open("PUT", `${api}/user/${user()}/updateAvatarFile?${query}`);
  request.setRequestHeader("Authorization", headers().Authorization);
  request.responseType = "json";
  request.upload.onprogress = (event) => {
    if (event.lengthComputable) $("progress").value = event.loaded / event.total;
  };
  request.onload = () => {
    $("progress").value = 1;
    const body = request.response;
    if (request.status === 200) return show(body);
    if (request.status === 202) return follow(body.statusUrl || `${api}/jobs/${body.jobId}`);
    const error = body && body.error;
    say(error ? `${error.message} (${request.status} ${error.code})` : `the service answered ${request.status}`, true);
  };
  request.onerror = () => say("the upload did not reach the service", true);
  $("progress").value = 0;
  $("upload").disabled = true;
  say("Uploading...");
  request.send(form);
});

async function follow(url) {
  for (;;) {
    const response = await fetch(url, { headers: headers() });
    if (!response.ok) return say(await problem(response), true);
    const job = await response.json();
    document.body.dataset.jobStatus = job.status;
    if (job.status === "completed") return show(job);
    if (job.status === "failed") {
      $("upload").disabled = false;
      return say(`The conversion failed: ${job.error ? job.error.message : "no reason given"}`, true);
    }
    say(`Job ${job.jobId}: ${job.status}...`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// 4. The avatar at every size, each painted with its placeholder first.
function show(avatar) {
  $("upload").disabled = false;
  const sizes = $("sizes");
  sizes.replaceChildren();
  const placeholder = avatar.placeholder ? thumbHashDataUrl(avatar.placeholder) : null;
  const urls = avatar.avatarUrls || { [0]: avatar.avatarUrl };
  const sides = Object.keys(urls).map(Number).sort((a, b) => b - a);
  for (const side of sides) {
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    if (side) img.width = img.height = side;
    img.alt = side ? `the avatar at ${side} pixels` : "the avatar";
    if (placeholder) img.style.backgroundImage = `url("${placeholder}")`;
    img.src = urls[side];
    img.dataset.side = side;
    const caption = document.createElement("figcaption");
    caption.textContent = side ? `${side} px` : "avatar";
    // A side larger than the square chosen is made at the square's size.
    img.addEventListener("load", () => {
      if (side && img.naturalWidth < side) {
        img.width = img.height = img.naturalWidth;
        caption.textContent = `${side} px, made at ${img.naturalWidth}: never enlarged`;
      }
    });
    figure.append(img, caption);
    sizes.append(figure);
  }
  $("result").hidden = false;
  document.body.dataset.avatarUrl = avatar.avatarUrl;
  say(`Done: job ${avatar.jobId || ""} made ${sides.length} size${sides.length === 1 ? "" : "s"}.`);
}

$("delete").addEventListener("click", async () => {
  const response = await fetch(`${api}/user/${user()}/avatar`, { method: "DELETE", headers: headers() });
  if (response.status !== 204) return say(await problem(response), true);
  $("sizes").replaceChildren();
  $("result").hidden = true;
  delete document.body.dataset.avatarUrl;
  say("Deleted: the avatar and every size of it are gone.");
});

// ThumbHash (https://evanw.github.io/thumbhash/), decoded as its author
// publishes the algorithm: a DC term and a few DCT coefficients for
// lightness (L) and two colour channels (P, Q), and alpha when present.
function thumbHashDataUrl(base64) {
  const hash = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const { PI, cos, max, min, round } = Math;
  const header24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
  const header16 = hash[3] | (hash[4] << 8);
  const lDc = (header24 & 63) / 63;
  const pDc = ((header24 >> 6) & 63) / 31.5 - 1;
  const qDc = ((header24 >> 12) & 63) / 31.5 - 1;
  const lScale = ((header24 >> 18) & 31) / 31;
  const hasAlpha = header24 >> 23;
  const pScale = ((header16 >> 3) & 63) / 63;
  const qScale = ((header16 >> 9) & 63) / 63;
  const isLandscape = header16 >> 15;
  const lx = max(3, isLandscape ? (hasAlpha ? 5 : 7) : header16 & 7);
  const ly = max(3, isLandscape ? header16 & 7 : hasAlpha ? 5 : 7);
  const aDc = hasAlpha ? (hash[5] & 15) / 15 : 1;
  const aScale = (hash[5] >> 4) / 15;
  let at = 0;
  const start = hasAlpha ? 6 : 5;
  const channel = (nx, ny, scale) => {
    const ac = [];
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++, at++) {
        const nibble = (hash[start + (at >> 1)] >> ((at & 1) << 2)) & 15;
        ac.push((nibble / 7.5 - 1) * scale);
      }
    }
    return ac;
  };
  const lAc = channel(lx, ly, lScale);
  // The colour channels are boosted by 1.25 against quantisation.
  const pAc = channel(3, 3, pScale * 1.25);
  const qAc = channel(3, 3, qScale * 1.25);
  const aAc = hasAlpha ? channel(5, 5, aScale) : [];
  const ratio = lx / ly;
  const w = round(ratio > 1 ? 32 : 32 * ratio);
  const h = round(ratio > 1 ? 32 / ratio : 32);
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext("2d");
  const image = context.createImageData(w, h);
  const fx = [];
  const fy = [];
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 4) {
      let [l, p, q, a] = [lDc, pDc, qDc, aDc];
      for (let cx = 0; cx < max(lx, hasAlpha ? 5 : 3); cx++) fx[cx] = cos((PI / w) * (x + 0.5) * cx);
      for (let cy = 0; cy < max(ly, hasAlpha ? 5 : 3); cy++) fy[cy] = cos((PI / h) * (y + 0.5) * cy);
      for (let cy = 0, j = 0; cy < ly; cy++) {
        for (let cx = cy ? 0 : 1; cx * ly < lx * (ly - cy); cx++, j++) l += lAc[j] * fx[cx] * fy[cy] * 2;
      }
      for (let cy = 0, j = 0; cy < 3; cy++) {
        for (let cx = cy ? 0 : 1; cx < 3 - cy; cx++, j++) {
          const f = fx[cx] * fy[cy] * 2;
          p += pAc[j] * f;
          q += qAc[j] * f;
        }
      }
      if (hasAlpha) {
        for (let cy = 0, j = 0; cy < 5; cy++) {
          for (let cx = cy ? 0 : 1; cx < 5 - cy; cx++, j++) a += aAc[j] * fx[cx] * fy[cy] * 2;
        }
      }
      const b = l - (2 / 3) * p;
      const r = (3 * l - b + q) / 2;
      const g = r - q;
      image.data.set([r, g, b, a].map((v) => max(0, 255 * min(1, v))), i);
    }
  }
  context.putImageData(image, 0, 0);
  return canvas.toDataURL("image/png");
}
