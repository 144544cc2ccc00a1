// The paas dashboard: one page over the paas API (the same routes and role checks as the CLI).
// Every element is built with textContent, never HTML from data, so app names, config values,
// log lines and build output are shown as text; the server's Content-Security-Policy allows no
// inline script either.
"use strict";

const session = { csrf: null, user: null };
let tail = null; // the AbortController of the live log stream
let refresh = null; // the interval that refreshes dynos and releases

// ---- helpers ----

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key in node && key !== "list") node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))),
  );
}

/** Calls the API: JSON in and out; a failure throws an Error with the API's message and hint. */
async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const error = new Error((data && data.message) || `${response.status} ${response.statusText}`);
    error.hint = data && data.hint;
    error.status = response.status;
    throw error;
  }
  return data;
}

function say(message, hint, isError) {
  const bar = document.getElementById("status");
  bar.replaceChildren(message, hint ? el("span", { class: "hint" }, hint) : "");
  bar.className = isError ? "error" : "";
  bar.hidden = false;
}

function failed(error) {
  if (error.status === 401) {
    if (session.user !== null) signedOut();
    say(error.message, "sign in again with a valid token", true);
    return;
  }
  say(error.message, error.hint, true);
}

function main(...children) {
  document.getElementById("main").replaceChildren(...children);
}

function stopLive() {
  if (tail) tail.abort();
  tail = null;
  if (refresh) clearInterval(refresh);
  refresh = null;
}

// ---- signing in and out ----

function signedIn(answer) {
  session.csrf = answer.csrf;
  session.user = answer.user;
  document.getElementById("who").textContent = `${answer.user}${answer.admin ? " (server admin)" : ""}`;
  document.getElementById("sign-out").hidden = false;
  route();
}

function signedOut() {
  stopLive();
  session.csrf = null;
  session.user = null;
  document.getElementById("who").textContent = "";
  document.getElementById("sign-out").hidden = true;
  const token = el("input", {
    id: "token",
    type: "password",
    autocomplete: "off",
    placeholder: "paas_…",
    required: true,
  });
  const form = el(
    "form",
    { class: "sign-in", id: "sign-in" },
    el("h1", {}, "Sign in"),
    el("label", { for: "token" }, "API token (", el("code", {}, "paas login"), " uses the same)"),
    token,
    el("button", { type: "submit", id: "sign-in-button" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await api("POST", "/session", { token: token.value });
      document.getElementById("status").hidden = true;
      signedIn(answer);
    } catch (error) {
      say(error.message, error.status === 401 ? "use a token from `paas-buildserver user create` or `paas tokens:create`" : error.hint, true);
    }
  });
  main(form);
}

async function signOut() {
  try {
    await api("DELETE", "/session");
  } catch (error) {
    // Signed out either way: the cookie is what it was, and it no longer works.
  }
  signedOut();
}

// ---- pages ----

function route() {
  stopLive();
  const match = location.hash.match(/^#\/apps\/([a-z][a-z0-9-]{0,29})$/);
  (match ? showApp(match[1]) : showApps()).catch(failed);
}

async function showApps() {
  const apps = await api("GET", "/apps");
  main(
    el("h1", {}, "Apps"),
    el(
      "section",
      {},
      table(
        ["Name", "Owner", "Your role", "Release", "URL"],
        apps.map((app) => [
          el("a", { href: `#/apps/${app.name}`, class: "app-link" }, app.name),
          app.owner,
          app.role || "",
          app.release ? `v${app.release}` : "none yet",
          el("a", { href: app.web_url, rel: "noreferrer" }, app.web_url),
        ]),
        "No apps yet: `paas create` makes one, `git push paas main` deploys it.",
      ),
    ),
  );
}

async function showApp(name) {
  const app = await api("GET", `/apps/${name}`);
  const canDeploy = app.role === "deployer" || app.role === "admin";
  const sections = {
    formation: el("section", { id: "formation" }, el("h2", {}, "Formation")),
    dynos: el("section", { id: "dynos" }, el("h2", {}, "Dynos")),
    releases: el("section", { id: "releases" }, el("h2", {}, "Releases")),
    config: el("section", { id: "config" }, el("h2", {}, "Config vars")),
    build: el("section", { id: "build" }, el("h2", {}, "Latest build")),
    logs: el("section", { id: "logs" }, el("h2", {}, "Logs")),
    metrics: el("section", { id: "metrics" }, el("h2", {}, "Metrics, last hour")),
    domains: el("section", { id: "domains" }, el("h2", {}, "Domains and certificates")),
    addons: el("section", { id: "addons" }, el("h2", {}, "Add-ons")),
  };
  main(
    el("p", {}, el("a", { href: "#/" }, "← Apps")),
    el("h1", { id: "app-name" }, app.name),
    el(
      "p",
      {},
      el("span", { id: "current-release" }, app.release ? `Running v${app.release}` : "Not deployed yet"),
      ` · owner ${app.owner} · your role: `,
      el("strong", { id: "role" }, app.role || ""),
      " · ",
      el("a", { href: app.web_url, rel: "noreferrer" }, app.web_url),
    ),
    el("div", { class: "grid" }, sections.formation, sections.dynos),
    sections.releases,
    sections.logs,
    el("div", { class: "grid" }, sections.config, sections.build),
    sections.metrics,
    el("div", { class: "grid" }, sections.domains, sections.addons),
  );
  const fill = (section, load) =>
    load()
      .then((content) => section.replaceChildren(section.firstChild, content))
      .catch((error) => {
        // The session ended (signed out elsewhere, expired, its token revoked): sign in again.
        if (error.status === 401) return failed(error);
        section.replaceChildren(section.firstChild, el("p", { class: "muted" }, error.message));
      });
  const live = () => {
    fill(sections.dynos, () => dynos(name));
    fill(sections.releases, () => releases(name, canDeploy));
  };
  fill(sections.formation, () => formation(name, canDeploy, live));
  live();
  fill(sections.config, () => config(name));
  fill(sections.build, () => build(name));
  fill(sections.metrics, () => metrics(name));
  fill(sections.domains, () => domains(name));
  fill(sections.addons, () => addons(name));
  sections.logs.append(logs(name));
  refresh = setInterval(live, 3000);
}

async function formation(name, canDeploy, changed) {
  const types = await api("GET", `/apps/${name}/formation`);
  if (!types.length) return el("p", { class: "muted" }, "No process types until the first deploy.");
  return el(
    "div",
    {},
    types.map((t) => {
      const input = el("input", {
        type: "number",
        min: 0,
        value: t.quantity,
        id: `scale-${t.type}`,
        disabled: !canDeploy,
      });
      const go = el("button", { type: "button", id: `scale-${t.type}-button`, disabled: !canDeploy }, "Scale");
      go.addEventListener("click", async () => {
        const text = input.value.trim();
        if (!/^[0-9]{1,5}$/.test(text)) {
          say(`${JSON.stringify(input.value)} is not a number of dynos`, "give a whole number: 0 stops every dyno of the type", true);
          return;
        }
        const count = Number(text);
        if (count === 0 && t.quantity > 0 && !window.confirm(`Stop every ${t.type} dyno of ${name}?`)) return;
        go.disabled = true;
        try {
          say(`Scaling ${t.type} to ${count}…`);
          await api("PATCH", `/apps/${name}/formation`, { [t.type]: count });
          say(`Scaled ${t.type} to ${count}.`);
          changed();
        } catch (error) {
          failed(error);
        } finally {
          go.disabled = false;
        }
      });
      return el(
        "div",
        { class: "formation-row" },
        el("label", { for: input.id }, t.type),
        input,
        go,
        el("code", { class: "muted" }, t.command),
      );
    }),
  );
}

async function dynos(name) {
  const list = await api("GET", `/apps/${name}/dynos`);
  return table(
    ["Dyno", "State", "Release", "Restarts", "Since"],
    list.map((d) => [d.name, el("span", { class: `state-${d.state}` }, d.state), `v${d.release}`, d.restarts, d.since]),
    "No dynos running.",
  );
}

async function releases(name, canDeploy) {
  const list = await api("GET", `/apps/${name}/releases`);
  return table(
    ["Version", "Description", "Status", "By", "Created", ""],
    list.slice(0, 15).map((r) => {
      let action = r.current ? el("strong", {}, "current") : "";
      if (canDeploy && !r.current && r.status === "succeeded" && r.image) {
        action = el("button", { type: "button", class: "secondary", id: `rollback-${r.version}` }, `Roll back to v${r.version}`);
        action.addEventListener("click", async () => {
          if (!window.confirm(`Roll back ${name} to v${r.version}? A new release runs v${r.version}'s build and config.`)) return;
          action.disabled = true;
          try {
            say(`Rolling back to v${r.version}…`);
            const made = await api("POST", `/apps/${name}/releases`, { rollback_to: r.version });
            say(`Rolled back: v${made.version} runs v${r.version}'s build.`);
            document.getElementById("current-release").textContent = `Running v${made.version}`;
          } catch (error) {
            failed(error);
          }
        });
      }
      return [`v${r.version}`, r.description, el("span", { class: `status-${r.status}` }, r.status), r.user, r.created_at, action];
    }),
    "No releases yet.",
  );
}

async function config(name) {
  const vars = await api("GET", `/apps/${name}/config-vars`);
  return table(
    ["Key", "Value"],
    Object.entries(vars).map(([key, value]) => [el("code", {}, key), el("code", { class: "config-value" }, value)]),
    "No config vars.",
  );
}

async function build(name) {
  const builds = await api("GET", `/apps/${name}/builds`);
  if (!builds.length) return el("p", { class: "muted" }, "No builds yet: git push paas main.");
  const latest = builds[0];
  const output = el("pre", { id: "build-output", hidden: true });
  const show = el("button", { type: "button", class: "secondary", id: "build-output-button" }, "Show output");
  show.addEventListener("click", async () => {
    try {
      const response = await fetch(`/apps/${name}/builds/${latest.id}/output`, { credentials: "same-origin" });
      output.textContent = await response.text();
      output.hidden = false;
    } catch (error) {
      failed(error);
    }
  });
  return el(
    "div",
    {},
    el("p", {}, el("span", { class: `status-${latest.status}` }, latest.status), ` · ${latest.commit.slice(0, 7)} by ${latest.user} · ${latest.started_at}`),
    latest.failure ? el("p", { class: "status-failed" }, latest.failure) : "",
    show,
    output,
  );
}

function logs(name) {
  const out = el("pre", { id: "log" });
  const button = el("button", { type: "button", id: "tail-button" }, "Tail logs");
  const append = (line) => {
    out.append(`${line.time} ${line.source}[${line.process}]: ${line.message}\n`);
    while (out.childNodes.length > 500) out.removeChild(out.firstChild);
    out.scrollTop = out.scrollHeight;
  };
  button.addEventListener("click", async () => {
    if (tail) {
      tail.abort();
      tail = null;
      button.textContent = "Tail logs";
      return;
    }
    const controller = new AbortController();
    tail = controller;
    button.textContent = "Stop";
    try {
      const response = await fetch(`/apps/${name}/logs?tail=true&lines=50`, {
        credentials: "same-origin",
        signal: controller.signal,
      });
      if (!response.ok) throw Object.assign(new Error((await response.json()).message), { status: response.status });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop();
        for (const text of lines) if (text) append(JSON.parse(text));
      }
    } catch (error) {
      if (error.name !== "AbortError") failed(error);
    }
    if (tail === controller) tail = null;
    button.textContent = "Tail logs";
  });
  return el("div", {}, button, out);
}

function fixed(number) {
  return Number(number).toFixed(1);
}

function chart(values) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 100 40");
  svg.setAttribute("preserveAspectRatio", "none");
  const top = Math.max(1, ...values);
  const line = document.createElementNS(ns, "polyline");
  const step = values.length > 1 ? 100 / (values.length - 1) : 100;
  line.setAttribute("points", values.map((v, i) => `${(i * step).toFixed(2)},${(38 - (v / top) * 36).toFixed(2)}`).join(" "));
  svg.append(line);
  return svg;
}

async function metrics(name) {
  const figures = await api("GET", `/apps/${name}/metrics?since=3600`);
  if (!figures.process_types.length) return el("p", { class: "muted" }, "No figures yet.");
  return el(
    "div",
    { class: "grid" },
    figures.process_types.map((p) => {
      const s = p.summary;
      return el(
        "div",
        { class: "metrics-type" },
        el("h3", {}, p.process_type),
        el("p", {}, `${s.requests} requests · p95 ${s.p95_ms ?? "–"} ms · 5xx ${fixed(s.server_errors_percent ?? 0)}% · CPU ${s.cpu_percent === null || s.cpu_percent === undefined ? "–" : fixed(s.cpu_percent)}%`),
        el("p", { class: "muted" }, "Requests per minute"),
        chart(p.points.map((point) => point.requests_per_minute)),
        el("p", { class: "muted" }, "p95 latency (ms)"),
        chart(p.points.map((point) => point.p95_ms || 0)),
      );
    }),
  );
}

async function domains(name) {
  const [list, certs] = await Promise.all([api("GET", `/apps/${name}/domains`), api("GET", `/apps/${name}/certs`)]);
  return el(
    "div",
    {},
    table(["Hostname", "Kind", "Certificate"], list.map((d) => [d.hostname, d.kind, d.cert_status]), "No domains."),
    table(
      ["Certificate", "Names", "Source", "State", "Expires"],
      certs.map((c) => [c.name, c.names.join(", "), c.source, c.state, c.not_after]),
      "No certificates.",
    ),
  );
}

async function addons(name) {
  const list = await api("GET", `/apps/${name}/addons`);
  return table(
    ["Add-on", "Kind", "Plan", "State", "Attached as"],
    list.map((a) => [a.name, a.kind, a.plan, a.state, a.attachments.map((x) => `${x.app} (${x.config_var})`).join(", ")]),
    "No add-ons.",
  );
}

// ---- start ----

document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
api("GET", "/session").then(signedIn, signedOut);
