// Faces from a face_vae export (format=web), drawn in the browser: the decoder runs in onnxruntime-web, and the
// codes come from the random stream sample_faces.py defines, so a seed gives the faces the sampler writes.
// Plain script, no build step: the export copies it beside index.html, decoder.onnx and the prior.
"use strict";

const GRID_FACES = 16;
const WALK_STEPS = 8;
const AGAIN = "run `python commands.py export format=web` again";
// SplitMix64, as in sample_faces.py's `uniforms`: BigInt keeps the 64-bit arithmetic exact.
const GOLDEN = 0x9e3779b97f4a7c15n;
const MIX1 = 0xbf58476d1ce4e5b9n;
const MIX2 = 0x94d049bb133111ebn;
const MASK = (1n << 64n) - 1n;

class PageError extends Error {}

function uniforms(seed, start, count) {
  const numbers = new Float64Array(count);
  for (let index = 0; index < count; index++) {
    let state = (BigInt(seed) + BigInt(start + index + 1) * GOLDEN) & MASK;
    state = ((state ^ (state >> 30n)) * MIX1) & MASK;
    state = ((state ^ (state >> 27n)) * MIX2) & MASK;
    state ^= state >> 31n;
    numbers[index] = (Number(state >> 11n) + 0.5) * 2 ** -53;
  }
  return numbers;
}

// Codes of faces first ... first+count-1 of `seed`, as sample_faces.py's `face_latents` draws them.
function faceLatents(prior, seed, first, count) {
  const dim = prior.latentDim;
  const per = 1 + 2 * dim;
  const numbers = uniforms(seed, first * per, count * per);
  const latents = new Float32Array(count * dim);
  const noise = new Float64Array(dim);
  for (let face = 0; face < count; face++) {
    const row = face * per;
    for (let j = 0; j < dim; j++) {
      noise[j] = Math.sqrt(-2 * Math.log(numbers[row + 1 + 2 * j])) * Math.cos(2 * Math.PI * numbers[row + 2 + 2 * j]);
    }
    if (!prior.weights) {
      latents.set(noise, face * dim);
      continue;
    }
    const last = prior.cumulative.length - 1;
    const target = numbers[row] * prior.cumulative[last];
    let component = 0;
    while (component < last && !(prior.cumulative[component] > target)) component++;
    for (let i = 0; i < dim; i++) {
      let value = prior.means[component * dim + i];
      const factor = prior.cholesky[component] + (i * (i + 1)) / 2; // row i of the lower triangle
      for (let j = 0; j <= i; j++) value += prior.packed[factor + j] * noise[j];
      latents[face * dim + i] = value;
    }
  }
  return latents;
}

async function fetchBytes(name) {
  let answer;
  try {
    answer = await fetch(name, { cache: "no-cache" });
  } catch (error) {
    throw new PageError(`${name} could not be fetched (${error.message}): serve this folder, e.g. python -m http.server.`);
  }
  if (!answer.ok) {
    throw new PageError(`${name} could not be loaded (HTTP ${answer.status}): the page needs the files the export wrote beside it; ${AGAIN}.`);
  }
  return new Uint8Array(await answer.arrayBuffer());
}

async function checkedBytes(name, manifest, unchecked) {
  const expected = manifest.files[name] && manifest.files[name].sha256;
  if (!expected) throw new PageError(`manifest.json does not list ${name}: ${AGAIN}.`);
  const bytes = await fetchBytes(name);
  if (!globalThis.crypto || !crypto.subtle) {
    unchecked.push(name); // browsers offer SHA-256 only on https and on 127.0.0.1/localhost
    return bytes;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
  if (hex !== expected) throw new PageError(`${name} is not the file the export wrote (its checksum differs): ${AGAIN}.`);
  return bytes;
}

function readPrior(header, bytes) {
  const dim = header.latent_dim;
  if (header.name === "standard_normal") return { latentDim: dim };
  const count = header.components;
  const triangle = (dim * (dim + 1)) / 2;
  const numbers = new Float64Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 8));
  if (bytes.byteLength !== 8 * count * (1 + dim + triangle)) {
    throw new PageError(`prior.bin holds ${bytes.byteLength} bytes, not the ${8 * count * (1 + dim + triangle)} of its header: ${AGAIN}.`);
  }
  if (!numbers.every(Number.isFinite)) throw new PageError(`prior.bin holds values that are not finite: ${AGAIN}.`);
  const weights = numbers.subarray(0, count);
  const cumulative = new Float64Array(count);
  weights.reduce((sum, weight, index) => (cumulative[index] = sum + weight), 0); // numpy's cumsum: in order
  const packed = numbers.subarray(count * (1 + dim));
  const cholesky = Array.from({ length: count }, (_, component) => component * triangle);
  return { latentDim: dim, weights, cumulative, means: numbers.subarray(count, count * (1 + dim)), packed, cholesky };
}

class FacePage {
  constructor() {
    this.strengths = {};
    this.rendering = null;
    this.again = false;
  }

  async load() {
    const started = performance.now();
    if (location.protocol === "file:") {
      throw new PageError("Open this page through a web server, not as a file: run python -m http.server in its folder and open http://127.0.0.1:8000/.");
    }
    if (typeof ort === "undefined") {
      const source = document.querySelector("script[data-ort]").src;
      throw new PageError(`onnxruntime-web did not load from ${source}: check the connection, or export with ort_dir=... to keep a copy beside the page.`);
    }
    let manifest;
    try {
      manifest = JSON.parse(new TextDecoder().decode(await fetchBytes("manifest.json")));
    } catch (error) {
      throw error instanceof PageError ? error : new PageError(`manifest.json is unreadable (${error.message}): ${AGAIN}.`);
    }
    const unchecked = [];
    const header = manifest.web.prior;
    const decoder = await checkedBytes("decoder.onnx", manifest, unchecked);
    const prior = header.name === "standard_normal" ? null : await checkedBytes("prior.bin", manifest, unchecked);
    this.prior = readPrior(header, prior);
    this.imageSize = manifest.image_size;
    if (manifest.web.attributes) {
      const attributes = JSON.parse(new TextDecoder().decode(await checkedBytes("attributes.json", manifest, unchecked)));
      this.directions = Object.fromEntries(attributes.names.map((name, index) => [name, attributes.directions[index]]));
      this.addSliders(attributes.names);
    }
    ort.env.wasm.numThreads = 1; // more threads need cross-origin isolation headers a static host may not send
    try {
      this.session = await ort.InferenceSession.create(decoder, { executionProviders: ["wasm"] });
    } catch (error) {
      throw new PageError(`decoder.onnx could not be opened by onnxruntime-web (${error.message}): ${AGAIN}.`);
    }
    this.loadMs = performance.now() - started;
    this.described = manifest.prior;
    this.warning = unchecked.length ? ` Checksums not checked (${unchecked.join(", ")}): browsers check them only over https or on 127.0.0.1.` : "";
  }

  addSliders(names) {
    const sliders = document.getElementById("sliders");
    for (const name of names) {
      const label = document.createElement("label");
      label.textContent = name.replaceAll("_", " ");
      const slider = document.createElement("input");
      Object.assign(slider, { type: "range", min: -3, max: 3, step: 0.5, value: 0, id: `attribute-${name}` });
      slider.addEventListener("input", () => {
        this.strengths[name] = Number(slider.value);
        this.render();
      });
      label.append(slider);
      sliders.append(label);
    }
    document.getElementById("attributes").hidden = false;
  }

  shifted(latents) {
    const dim = this.prior.latentDim;
    const moved = Float32Array.from(latents);
    for (const [name, strength] of Object.entries(this.strengths)) {
      const direction = this.directions[name];
      for (let index = 0; index < moved.length; index++) moved[index] += strength * direction[index % dim];
    }
    return moved;
  }

  async decode(latents, canvases) {
    const dim = this.prior.latentDim;
    const count = latents.length / dim;
    const { images } = await this.session.run({ latents: new ort.Tensor("float32", latents, [count, dim]) });
    const size = this.imageSize;
    const plane = size * size;
    canvases.forEach((canvas, face) => {
      Object.assign(canvas, { width: size, height: size });
      const context = canvas.getContext("2d");
      const picture = context.createImageData(size, size);
      for (let pixel = 0; pixel < plane; pixel++) {
        for (let channel = 0; channel < 3; channel++) {
          const value = Math.min(Math.max(images.data[(face * 3 + channel) * plane + pixel], 0), 1);
          picture.data[4 * pixel + channel] = Math.trunc(Math.fround(value * 255)); // x 255, truncated: as PIL's
        }
        picture.data[4 * pixel + 3] = 255;
      }
      context.putImageData(picture, 0, 0);
    });
  }

  walkLatents(latents) {
    const dim = this.prior.latentDim;
    const pick = (id) => Math.min(Math.max(Math.round(Number(document.getElementById(id).value)) || 1, 1), GRID_FACES) - 1;
    const from = latents.subarray(pick("walk-from") * dim, (pick("walk-from") + 1) * dim);
    const to = latents.subarray(pick("walk-to") * dim, (pick("walk-to") + 1) * dim);
    const walk = new Float32Array(WALK_STEPS * dim);
    for (let step = 0; step < WALK_STEPS; step++) {
      const t = step / (WALK_STEPS - 1);
      for (let i = 0; i < dim; i++) walk[step * dim + i] = (1 - t) * from[i] + t * to[i];
    }
    return walk;
  }

  // Draw the grid and the walk; a change while drawing draws again once after (never two runs at once).
  render() {
    if (this.rendering) {
      this.again = true;
      return this.rendering;
    }
    this.rendering = (async () => {
      try {
        do {
          this.again = false;
          const started = performance.now();
          const latents = this.shifted(this.baseLatents);
          await this.decode(latents, [...document.querySelectorAll("#grid canvas")]);
          this.drawMs = performance.now() - started;
          await this.decode(this.walkLatents(latents), [...document.querySelectorAll("#walk canvas")]);
        } while (this.again);
        this.say(`${GRID_FACES} faces of ${this.imageSize}x${this.imageSize}, seed ${this.seed}, from ${this.described}: drawn in ${this.drawMs.toFixed(0)} ms (model loaded in ${this.loadMs.toFixed(0)} ms).${this.warning}`);
      } catch (error) {
        showError(error);
      } finally {
        this.rendering = null;
      }
    })();
    return this.rendering;
  }

  draw(seed) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      showError(new PageError(`The seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, not ${seed}.`));
      return Promise.resolve();
    }
    showError(null);
    this.seed = seed;
    document.getElementById("seed").value = String(seed);
    this.baseLatents = faceLatents(this.prior, seed, 0, GRID_FACES);
    return this.render();
  }

  say(text) {
    document.getElementById("status").textContent = text;
  }
}

function showError(error) {
  const text = error === null ? "" : error instanceof PageError ? error.message : `Something went wrong: ${error.message || error}`;
  document.getElementById("error").textContent = text;
  if (error !== null) console.error(error);
}

function addCanvases(id, count) {
  const holder = document.getElementById(id);
  for (let index = 0; index < count; index++) holder.append(document.createElement("canvas"));
}

async function start() {
  addCanvases("grid", GRID_FACES);
  addCanvases("walk", WALK_STEPS);
  const page = new FacePage();
  window.faceVae = { page, error: () => document.getElementById("error").textContent };
  try {
    await page.load();
  } catch (error) {
    document.getElementById("status").textContent = "The model did not load.";
    showError(error);
    return;
  }
  const seedField = document.getElementById("seed");
  const seed = Number(new URLSearchParams(location.search).get("seed") || 0);
  document.getElementById("draw").addEventListener("click", () => page.draw(Number(seedField.value)));
  document.getElementById("new").addEventListener("click", () => page.draw(Math.floor(Math.random() * 2 ** 32)));
  for (const id of ["walk-from", "walk-to"]) document.getElementById(id).addEventListener("change", () => page.render());
  for (const id of ["draw", "new"]) document.getElementById(id).disabled = false;
  await page.draw(seed);
}

window.faceVaeReady = start();
