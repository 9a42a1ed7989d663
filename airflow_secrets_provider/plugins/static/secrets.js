// The Secrets page: lists names, times and actors from the plugin's API; sends a value only
// in the body of a PUT and clears the field right after. Every string from the API is placed
// with textContent (never as HTML).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  let me = null;
  let selected = null;

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function show(id, text) {
    const el = $(id);
    el.textContent = text || "";
    el.hidden = !text;
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch("api/" + path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && typeof data.detail === "string" ? data.detail : response.statusText;
      const error = new Error(`${response.status}: ${detail}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function seg(text) {
    return encodeURIComponent(text);
  }

  function selectorText(selector) {
    const parts = Object.entries(selector.matchLabels || {}).map(([k, v]) => `${k}=${v}`);
    for (const e of selector.matchExpressions || []) {
      parts.push(e.values && e.values.length ? `${e.key} ${e.operator} (${e.values.join(",")})` : `${e.key} ${e.operator}`);
    }
    return parts.join(", ");
  }

  async function loadProjects() {
    const data = await api("GET", "projects");
    const body = $("projects");
    body.replaceChildren();
    for (const p of data.projects) {
      const row = document.createElement("tr");
      row.dataset.project = p.project;
      if (p.project === selected) row.classList.add("selected");
      const name = document.createElement("button");
      name.className = "link";
      name.type = "button";
      name.textContent = p.project;
      name.dataset.testid = "project-link";
      name.addEventListener("click", () => selectProject(p.project));
      const td = document.createElement("td");
      td.appendChild(name);
      row.appendChild(td);
      cell(row, p.keys);
      cell(row, p.namespace);
      body.appendChild(row);
    }
    if (!data.projects.length) {
      const row = document.createElement("tr");
      cell(row, "No project has secrets yet.").colSpan = 3;
      body.appendChild(row);
    }
  }

  async function selectProject(project) {
    selected = project;
    $("set-project").value = project;
    for (const row of $("projects").querySelectorAll("tr")) {
      row.classList.toggle("selected", row.dataset.project === project);
    }
    await loadKeys();
  }

  async function loadKeys() {
    if (!selected) return;
    const data = await api("GET", `projects/${seg(selected)}/keys`);
    $("keys-section").hidden = false;
    $("keys-project").textContent = `${data.project} (namespace ${data.namespace})`;
    const body = $("keys");
    body.replaceChildren();
    for (const k of data.keys) {
      const row = document.createElement("tr");
      row.dataset.key = k.key;
      cell(row, k.key);
      cell(row, k.updated || "");
      const actions = cell(row, "");
      if (me && me.can_delete) {
        const del = document.createElement("button");
        del.type = "button";
        del.className = "danger";
        del.textContent = "Delete";
        del.dataset.testid = "delete-key";
        del.addEventListener("click", () => askToDelete(actions, data.project, k.key));
        actions.appendChild(del);
      }
      body.appendChild(row);
    }
    if (!data.keys.length) {
      const row = document.createElement("tr");
      cell(row, "No keys.").colSpan = 3;
      body.appendChild(row);
    }
  }

  async function loadPresets() {
    const data = await api("GET", "presets");
    const body = $("presets");
    body.replaceChildren();
    for (const p of data.presets) {
      const row = document.createElement("tr");
      cell(row, p.name);
      cell(row, p.description);
      cell(row, selectorText(p.selector));
      const adds = [];
      if (p.env.length) adds.push(`env ${p.env.join(", ")}`);
      if (p.volumes.length) adds.push(`volumes ${p.volumes.join(", ")}`);
      if (p.mounts.length) adds.push(`mounts ${p.mounts.join(", ")}`);
      if (p.image_pull_secrets.length) adds.push(`pull secrets ${p.image_pull_secrets.join(", ")}`);
      cell(row, adds.join("; "));
      cell(row, p.origin);
      body.appendChild(row);
    }
    if (!data.presets.length) {
      const row = document.createElement("tr");
      cell(row, "No presets.").colSpan = 5;
      body.appendChild(row);
    }
  }

  async function loadHistory() {
    const data = await api("GET", "history?limit=50");
    const body = $("history");
    body.replaceChildren();
    for (const e of data.entries) {
      const row = document.createElement("tr");
      cell(row, e.time);
      cell(row, e.action);
      cell(row, e.actor);
      cell(row, e.project || e.secret);
      cell(row, (e.keys || []).join(", "));
      body.appendChild(row);
    }
  }

  async function refresh() {
    await Promise.all([loadProjects(), loadKeys(), loadHistory()]);
  }

  async function run(action) {
    show("error", "");
    show("notice", "");
    try {
      await action();
    } catch (error) {
      show("error", error.message);
    }
  }

  async function setKey(event) {
    event.preventDefault();
    const valueField = $("set-value");
    const project = $("set-project").value.trim();
    const key = $("set-key").value.trim();
    const value = valueField.value;
    await run(async () => {
      try {
        const data = await api("PUT", `projects/${seg(project)}/keys/${seg(key)}`, { value });
        valueField.value = "";
        $("set-key").value = "";
        show("notice", `Set ${data.set} in project ${data.project} (${data.keys.length} keys).`
          + (data.warnings ? ` Warning: ${data.warnings.join(" ")}` : ""));
        selected = data.project;
        await refresh();
      } finally {
        valueField.value = "";
      }
    });
  }

  // The UI's iframe sandbox has no allow-modals (window.confirm is blocked): confirm in the row.
  function askToDelete(actions, project, key) {
    const previous = Array.from(actions.childNodes);
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "danger";
    yes.textContent = `Yes, delete ${key}`;
    yes.dataset.testid = "confirm-delete";
    yes.addEventListener("click", () => deleteKey(project, key));
    const no = document.createElement("button");
    no.type = "button";
    no.textContent = "Cancel";
    no.addEventListener("click", () => actions.replaceChildren(...previous));
    actions.replaceChildren(yes, " ", no);
  }

  async function deleteKey(project, key) {
    await run(async () => {
      const data = await api("DELETE", `projects/${seg(project)}/keys/${seg(key)}`);
      show("notice", `Deleted ${data.deleted} from project ${data.project} (${data.keys.length} keys left).`);
      if (!data.keys.length) {
        selected = null;
        $("keys-section").hidden = true;
      }
      await refresh();
    });
  }

  async function start() {
    await run(async () => {
      me = await api("GET", "me");
      const rights = me.can_set || me.can_delete ? "can change keys" : "read only";
      const where = me.project_namespace
        ? `One namespace per project (${me.project_namespace})`
        : `Namespace ${me.namespace}`;
      $("context").textContent = `${where} · signed in as ${me.user} (${rights})`;
      $("set-section").hidden = !me.can_set;
      $("set-form").addEventListener("submit", setKey);
      await Promise.all([loadProjects(), loadPresets(), loadHistory()]);
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
