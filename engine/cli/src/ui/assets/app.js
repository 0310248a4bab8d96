"use strict";
// ferry ui: plain DOM, no framework. Every request carries the token from the page URL.
const TOKEN = new URL(location.href).searchParams.get("token") || "";
const main = document.getElementById("main");
let uid = 0;
let liveSource = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else if (k === "value") e.value = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function api(method, path, body) {
  const opts = { method, headers: { "X-Ferry-Token": TOKEN } };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const r = await fetch(path, opts);
  const text = await r.text();
  let v = null;
  try { v = JSON.parse(text); } catch (_) { v = { error: text }; }
  if (!r.ok) { const e = new Error(v && v.error || r.statusText); e.body = v; throw e; }
  return v;
}

// A labelled field: the label wraps the control, so every control has an accessible name.
function field(label, control, hint) {
  const id = "f" + (++uid);
  control.id = control.id || id;
  const l = el("label", { for: control.id }, label, control);
  if (hint) l.append(el("span", { class: "hint", text: hint }));
  return l;
}
const input = (name, value, extra) => el("input", Object.assign({ name, value: value ?? "" }, extra || {}));
const select = (name, options, value) => {
  const s = el("select", { name });
  for (const o of options) {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    s.append(el("option", { value: v, text: t, selected: v === value }));
  }
  return s;
};
const textarea = (name, value, extra) => el("textarea", Object.assign({ name, value: value ?? "" }, extra || {}));
const msg = (kind, text) => el("div", { class: "msg " + kind, role: kind === "err" ? "alert" : "status", text });

function dataTable(result, caption) {
  const cols = result.columns || [];
  const t = el("table", {}, caption ? el("caption", { class: "hint", text: caption }) : null,
    el("thead", {}, el("tr", {}, cols.map(c => el("th", { scope: "col", title: c.type || "" }, c.name)))),
    el("tbody", {}, (result.rows || []).map(r => el("tr", {}, r.map(v => v === null ? el("td", { class: "null", text: "NULL" }) : el("td", { text: v }))))));
  return el("div", { class: "table-wrap" }, t);
}

function showErrors(box, res) {
  box.replaceChildren();
  if (res.ok) box.append(msg("ok", "Valid" + (res.bizdate ? " for business date " + res.bizdate : "") + (res.plan ? ": " + res.plan.splits.length + " split(s), " + res.plan.channels + " channel(s)" : "")));
  for (const e of res.errors || []) {
    const d = el("div", { class: "msg err", role: "alert" });
    if (e.path) d.append(el("span", { class: "path", text: e.path }), " ");
    if (e.line) d.append(el("span", { class: "path", text: "line " + e.line + ", column " + e.column }), " ");
    d.append(e.message);
    box.append(d);
  }
  for (const w of res.warnings || []) box.append(msg("warn", w));
  for (const n of res.notes || []) box.append(msg("ok", n));
  if (res.plan) box.append(el("div", { class: "hint" }, "source: " + res.plan.source, el("br"), "target: " + res.plan.target, el("br"), ...res.plan.splits.map(s => [s, el("br")])));
}

// ------------------------------------------------------------------ data sources
async function viewSources() {
  main.replaceChildren(el("h1", { text: "Data sources" }));
  const box = el("div");
  main.append(box, el("div", { class: "actions" }, el("button", { id: "add-source", onclick: () => sourceForm(null), text: "Add data source" })));
  try {
    const r = await api("GET", "/api/datasources");
    if (!r.datasources.length) box.append(msg("warn", "No data sources in " + r.catalog + " yet."));
    const rows = r.datasources.map(d => {
      const where = d.where || "", secret = d.secret || "none";
      const result = el("div");
      return el("tr", { "data-name": d.name }, el("td", { text: d.name }), el("td", { text: d.type }), el("td", { text: where }), el("td", { text: d.description || "" }), el("td", { text: secret }),
        el("td", {}, el("div", { class: "actions" },
          el("button", { class: "secondary", "aria-label": "Test Connectivity of " + d.name, text: "Test Connectivity", onclick: async () => {
            result.replaceChildren(msg("ok", "testing…"));
            try { const t = await api("POST", "/api/datasources/" + encodeURIComponent(d.name) + "/test"); result.replaceChildren(t.ok ? msg("ok", t.message) : msg("err", t.error)); }
            catch (e) { result.replaceChildren(msg("err", e.message)); }
          } }),
          el("button", { class: "secondary", "aria-label": "Edit " + d.name, text: "Edit", onclick: () => sourceForm(d) }),
          el("button", { class: "danger", "aria-label": "Remove " + d.name, text: "Remove", onclick: async () => {
            if (!confirm("Remove data source " + d.name + "?")) return;
            try { await api("DELETE", "/api/datasources/" + encodeURIComponent(d.name)); viewSources(); } catch (e) { result.replaceChildren(msg("err", e.message)); }
          } })), result));
    });
    box.append(el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Name", "Type", "Where", "Description", "Secret", ""].map(h => el("th", { scope: "col", text: h })))), el("tbody", {}, rows))));
  } catch (e) { box.append(msg("err", e.message)); }
}

async function sourceForm(d) {
  let kinds = [];
  try { kinds = (await api("GET", "/api/kinds")).kinds; } catch (e) { main.replaceChildren(msg("err", e.message)); return; }
  const kind = select("type", kinds.map(k => [k.type, k.title]), d ? d.type : (kinds[0] || {}).type);
  const name = input("name", d ? d.name : "", { required: true, maxlength: 60, readonly: d ? true : null, pattern: "[A-Za-z_][A-Za-z0-9_]*" });
  const description = input("description", d && d.description, { maxlength: 80 });
  // one group of inputs per datasource type, drawn from the type's field table
  const groups = kinds.map(k => {
    const inputs = {};
    const same = d && d.type === k.type;
    const cells = k.fields.map(fd => {
      const secret = fd.kind === "secret";
      inputs[fd.key] = input(fd.key, secret || !same ? "" : d[fd.key], secret
        ? { type: "password", autocomplete: "new-password", placeholder: same && d[fd.key + "Set"] ? "(set; blank keeps it)" : "" }
        : { required: fd.required ? true : null });
      return field(fd.label, inputs[fd.key], fd.help);
    });
    return { type: k.type, inputs, box: el("div", { class: "grid" }, ...cells) };
  });
  const sync = () => { for (const g of groups) g.box.hidden = g.type !== kind.value; };
  kind.addEventListener("change", sync); sync();
  const result = el("div");
  const form = () => {
    const b = { type: kind.value, description: description.value };
    for (const g of groups) if (g.type === kind.value) for (const [k, c] of Object.entries(g.inputs)) b[k] = c.value;
    return b;
  };
  main.replaceChildren(el("h1", { text: d ? "Edit data source " + d.name : "Add data source" }),
    el("section", {}, el("div", { class: "grid" }, field("Data source type", kind), field("Data source name", name, "letters, digits and _, starting with a letter or _, at most 60"), field("Description", description, "at most 80 characters")),
      ...groups.map(g => g.box), result,
      el("div", { class: "actions" },
        el("button", { class: "secondary", id: "test-form", text: "Test Connectivity", onclick: async () => {
          result.replaceChildren(msg("ok", "testing…"));
          try { const t = await api("POST", "/api/datasources/" + encodeURIComponent(name.value || "new") + "/test", form()); result.replaceChildren(t.ok ? msg("ok", t.message) : msg("err", t.error)); }
          catch (e) { result.replaceChildren(msg("err", e.message)); }
        } }),
        el("button", { id: "save-source", text: "Save", onclick: async () => {
          try { await api("PUT", "/api/datasources/" + encodeURIComponent(name.value), form()); location.hash = "#sources"; viewSources(); }
          catch (e) { result.replaceChildren(msg("err", e.message)); }
        } }),
        el("button", { class: "secondary", text: "Back", onclick: () => viewSources() }))));
}

// ------------------------------------------------------------------ wizard
async function viewWizard() {
  main.replaceChildren(el("h1", { text: "New job" }));
  let ends = [];
  try { ends = (await api("GET", "/api/wizard/ends")).ends; } catch (e) { main.append(msg("err", e.message)); }
  const dsOptions = [["", "(choose)"], ...ends.map(s => [s.name, s.name + " " + s.note])];
  const files = new Set(ends.filter(s => s.files).map(s => s.name));
  const w = {
    from: select("from", dsOptions, ""), table: input("table", "", { list: "src-tables" }), sourcePartition: input("sourcePartition", "", { placeholder: "pt=${bdp.system.bizdate}" }),
    where: input("where", ""), splitPk: input("splitPk", ""),
    to: select("to", dsOptions, ""), targetTable: input("targetTable", "", { list: "dst-tables" }), partition: input("partition", "", { placeholder: "pt=${bdp.system.bizdate}" }),
    preSql: textarea("preSql", "", { rows: 2 }), postSql: textarea("postSql", "", { rows: 2 }),
    conflict: select("conflict", [["", "(default: insert)"], ["insert", "insert: conflicts are dirty data"], ["ignore", "ignore: keep the target row"], ["update", "update: replace the target row"]], ""),
    truncate: select("truncate", [["", "(default)"], ["true", "yes"], ["false", "no"]], ""),
    mapping: select("mapping", [["name", "by name"], ["position", "by position"], ["hand", "by hand"]], "name"),
    map: textarea("map", "", { rows: 4, placeholder: "target_column=source_column\nsource_tag='web'\nday=${bdp.system.bizdate}" }),
    concurrent: input("concurrent", "2", { type: "number", min: 1 }), mbps: input("mbps", "", { type: "number", min: 0, step: "any" }), errorLimit: input("errorLimit", "0", { type: "number", min: 0 }),
    datax: el("input", { type: "checkbox", name: "datax" }),
  };
  const srcTables = el("datalist", { id: "src-tables" }), dstTables = el("datalist", { id: "dst-tables" });
  const srcCols = el("div"), dstCols = el("div"), previewBox = el("div"), mapHint = el("div");
  const loadTables = async (sel, list) => {
    list.replaceChildren();
    if (!sel.value || files.has(sel.value)) return;
    try { for (const t of (await api("GET", "/api/datasources/" + encodeURIComponent(sel.value) + "/tables")).tables) list.append(el("option", { value: t })); } catch (_) { /* type the name */ }
  };
  const loadCols = async (sel, table, box, source) => {
    box.replaceChildren();
    if (!sel.value || !table.value || files.has(sel.value)) return;
    try {
      const c = await api("GET", "/api/datasources/" + encodeURIComponent(sel.value) + "/columns?table=" + encodeURIComponent(table.value));
      box.append(dataTable({ columns: [{ name: "column" }, { name: "type" }], rows: c.columns.map(x => [x.name, x.type || "Unrecognized"]) }, (source ? "source" : "target") + " columns" + (c.partitionKeys.length ? "; partition keys: " + c.partitionKeys.join(", ") : "")));
      if (source && c.splitKey && !w.splitPk.value) w.splitPk.value = c.splitKey;
      const part = source ? w.sourcePartition : w.partition;
      if (c.partitionKeys.length && !part.value) part.value = c.partitionKeys[0] + "=${bdp.system.bizdate}";
    } catch (e) { box.append(msg("err", e.message)); }
  };
  w.from.addEventListener("change", () => loadTables(w.from, srcTables));
  w.to.addEventListener("change", () => loadTables(w.to, dstTables));
  w.table.addEventListener("change", () => loadCols(w.from, w.table, srcCols, true));
  w.targetTable.addEventListener("change", () => loadCols(w.to, w.targetTable, dstCols, false));
  const preview = el("details", { class: "box", id: "data-preview" }, el("summary", { text: "Data Preview" }), previewBox);
  preview.addEventListener("toggle", async () => {
    if (!preview.open) return;
    previewBox.replaceChildren(msg("ok", "loading…"));
    try { previewBox.replaceChildren(dataTable(await api("POST", "/api/preview", { source: w.from.value, table: w.table.value, partition: w.sourcePartition.value, where: w.where.value, limit: 5 }))); }
    catch (e) { previewBox.replaceChildren(msg("err", e.message)); }
  });
  // constants and scheduling parameters, checked as they are typed
  w.map.addEventListener("input", () => {
    mapHint.replaceChildren();
    w.map.value.split("\n").forEach((line, i) => {
      const l = line.trim(); if (!l) return;
      const eq = l.indexOf("=");
      if (eq <= 0) { mapHint.append(msg("err", "line " + (i + 1) + ": write TARGET=EXPRESSION")); return; }
      const e = l.slice(eq + 1).trim();
      if (e.startsWith("'") !== e.endsWith("'") || (e.startsWith("'") && e.length < 2)) mapHint.append(msg("err", "line " + (i + 1) + ": a constant is in single quotes: 'text'"));
      if ((e.match(/\$\{/g) || []).length !== (e.match(/\}/g) || []).length) mapHint.append(msg("err", "line " + (i + 1) + ": unclosed ${...}"));
    });
  });
  const out = textarea("job", "", { rows: 18, class: "script", "aria-label": "Job JSON" });
  const file = input("file", "", { placeholder: "person_to_hpg.json" });
  const bizdate = input("bizdate", "", { placeholder: "YYYYMMDD" });
  const result = el("div");
  const answers = () => {
    const lines = t => t.value.split("\n").map(s => s.trim()).filter(Boolean);
    return { from: w.from.value, table: w.table.value, sourcePartition: w.sourcePartition.value, where: w.where.value, splitPk: w.splitPk.value,
      to: w.to.value, targetTable: w.targetTable.value, partition: w.partition.value, preSql: lines(w.preSql), postSql: lines(w.postSql),
      conflict: w.conflict.value, truncate: w.truncate.value === "" ? null : w.truncate.value === "true",
      mapping: lines(w.map).length ? "hand" : w.mapping.value, map: lines(w.map),
      concurrent: w.concurrent.value ? Number(w.concurrent.value) : null, mbps: w.mbps.value ? Number(w.mbps.value) : null,
      errorLimit: w.errorLimit.value ? Number(w.errorLimit.value) : null, datax: w.datax.checked };
  };
  main.append(
    el("fieldset", { id: "step-source" }, el("legend", { text: "1. Source" }), el("div", { class: "grid" }, field("Source data source", w.from), field("Source table", w.table), field("Source partition (ODPS)", w.sourcePartition), field("Filter (where)", w.where), field("Split key (splitPk)", w.splitPk, "suggested from an integer primary key")), srcTables, srcCols, preview),
    el("fieldset", { id: "step-target" }, el("legend", { text: "2. Target" }), el("div", { class: "grid" }, field("Target data source", w.to), field("Target table", w.targetTable), field("Partition", w.partition), field("Primary Key Conflict", w.conflict), field("Empty the target first (truncate)", w.truncate)),
      el("div", { class: "cols" }, field("Statements run before import (preSql, one per line)", w.preSql), field("Statements run after import (postSql, one per line)", w.postSql)), dstTables, dstCols),
    el("fieldset", { id: "step-mapping" }, el("legend", { text: "3. Field mapping" }), el("div", { class: "grid" }, field("Map fields", w.mapping)),
      field("By hand: TARGET=EXPRESSION per line (a column, 'constant', 123, ${bdp.system.bizdate})", w.map), mapHint),
    el("fieldset", { id: "step-channel" }, el("legend", { text: "4. Channel control" }), el("div", { class: "grid" }, field("Number of concurrent jobs", w.concurrent), field("Maximum job rate (MiB/s, blank: no cap)", w.mbps), field("Dirty data records allowed (errorLimit)", w.errorLimit))),
    el("fieldset", { id: "step-save" }, el("legend", { text: "5. Preview and save" }),
      el("label", { class: "inline", for: "datax-shape" }, Object.assign(w.datax, { id: "datax-shape" }), "Save in the DataX shape"),
      el("div", { class: "actions" }, el("button", { id: "generate", text: "Preview job", onclick: async () => {
        try { const r = await api("POST", "/api/wizard", answers()); out.value = r.text; if (!file.value) file.value = r.file; result.replaceChildren(msg("ok", "Job composed; validate or save it.")); }
        catch (e) { result.replaceChildren(msg("err", e.message)); }
      } })),
      field("Job JSON (Script Mode: edit freely)", out),
      el("div", { class: "grid" }, field("Save as (in the jobs folder)", file), field("Business date to validate for", bizdate)),
      result,
      el("div", { class: "actions" },
        el("button", { class: "secondary", id: "validate", text: "Validate", onclick: async () => {
          result.replaceChildren(msg("ok", "validating (connects to both sides)…"));
          try { showErrors(result, await api("POST", "/api/validate", { text: out.value, bizdate: bizdate.value })); } catch (e) { result.replaceChildren(msg("err", e.message)); }
        } }),
        el("button", { id: "save-job", text: "Save", onclick: async () => {
          try { await api("PUT", "/api/jobs/" + encodeURIComponent(file.value), { text: out.value }); location.hash = "#jobs/" + encodeURIComponent(file.value); }
          catch (e) { if (e.body && e.body.errors) showErrors(result, { errors: e.body.errors }); else result.replaceChildren(msg("err", e.message)); }
        } }))));
}

// ------------------------------------------------------------------ jobs, Script Mode, runs
async function viewJobs() {
  main.replaceChildren(el("h1", { text: "Jobs" }));
  try {
    const r = await api("GET", "/api/jobs");
    if (!r.jobs.length) main.append(msg("warn", "No job files in " + r.folder + ". Make one with New job."));
    main.append(el("section", {}, el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Job file" }), el("th", { scope: "col", text: "Modified" }))),
      el("tbody", {}, r.jobs.map(j => el("tr", {}, el("td", {}, el("a", { href: "#jobs/" + encodeURIComponent(j.file), text: j.file })), el("td", { text: j.modified || "" }))))))));
  } catch (e) { main.append(msg("err", e.message)); }
}

async function viewJob(file) {
  main.replaceChildren(el("h1", { text: "Job " + file }));
  const text = textarea("script", "", { class: "script", spellcheck: "false" });
  const bizdate = input("bizdate", "", { placeholder: "YYYYMMDD or YYYYMMDD..YYYYMMDD" });
  const params = input("params", "", { placeholder: "name=value name2=value2" });
  const result = el("div"), history = el("div");
  const ps = () => params.value.split(/\s+/).filter(Boolean);
  try { text.value = (await api("GET", "/api/jobs/" + encodeURIComponent(file))).text; } catch (e) { main.append(msg("err", e.message)); return; }
  const jump = res => { const e = (res.errors || [])[0]; if (e && e.line) { const lines = text.value.split("\n"); let pos = 0; for (let i = 0; i < e.line - 1 && i < lines.length; i++) pos += lines[i].length + 1; text.focus(); text.setSelectionRange(pos + e.column - 1, pos + e.column); } };
  main.append(el("section", {}, field("Script Mode (JSON; comments are kept)", text),
    el("div", { class: "grid" }, field("Business date (bizdate)", bizdate), field("Parameters (-p)", params)), result,
    el("div", { class: "actions" },
      el("button", { class: "secondary", id: "validate-job", text: "Validate", onclick: async () => {
        result.replaceChildren(msg("ok", "validating…"));
        try { const r = await api("POST", "/api/validate", { text: text.value, file, bizdate: bizdate.value, params: ps() }); showErrors(result, r); jump(r); } catch (e) { result.replaceChildren(msg("err", e.message)); }
      } }),
      el("button", { class: "secondary", id: "save-script", text: "Save", onclick: async () => {
        try { await api("PUT", "/api/jobs/" + encodeURIComponent(file), { text: text.value, bizdate: bizdate.value, params: ps() }); result.replaceChildren(msg("ok", "Saved " + file)); }
        catch (e) { if (e.body && e.body.errors) { showErrors(result, { errors: e.body.errors }); jump(e.body); } else result.replaceChildren(msg("err", e.message)); }
      } }),
      el("button", { id: "run-job", text: "Run Job", onclick: async () => {
        try { const r = await api("POST", "/api/runs", { job: file, bizdate: bizdate.value, params: ps() }); location.hash = "#run/" + r.id; }
        catch (e) { result.replaceChildren(msg("err", e.message)); }
      } }))),
    el("section", {}, el("h2", { text: "Run history" }), history));
  try {
    const h = await api("GET", "/api/runs?job=" + encodeURIComponent(file));
    history.append(h.runs.length ? runTable(h.runs) : el("p", { class: "hint", text: "No runs yet." }));
  } catch (e) { history.append(msg("err", e.message)); }
}

function runTable(runs) {
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, ["Run", "Job", "Business date", "Started", "Status", "Written", "Dirty"].map(h => el("th", { scope: "col", text: h })))),
    el("tbody", {}, runs.map(r => {
      const s = Array.isArray(r.summary) ? r.summary : r.summary ? [r.summary] : [];
      const sum = k => s.reduce((a, x) => a + (x[k] || 0), 0);
      return el("tr", {}, el("td", {}, el("a", { href: "#run/" + r.id, text: r.id })), el("td", { text: r.job }), el("td", { text: r.bizdate || "" }), el("td", { text: r.started }),
        el("td", {}, el("span", { class: "status " + r.status, text: r.status })), el("td", { text: s.length ? sum("records_written") : "" }), el("td", { text: s.length ? sum("records_dirty") : "" }));
    }))));
}

const fmtSecs = s => s === undefined || s === null ? "–" : s < 60 ? s.toFixed(0) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";

async function viewRun(id) {
  main.replaceChildren(el("h1", { text: "Run " + id }));
  const status = el("span", { class: "status running", id: "run-status", text: "…" });
  const stats = el("div", { class: "stats" }), bar = el("progress", { max: 1, value: 0, "aria-label": "splits done" });
  const log = el("pre", { class: "log", "aria-label": "output" }), summary = el("div"), dirty = el("div");
  const cancel = el("button", { class: "danger", id: "cancel-run", text: "Cancel", onclick: async () => {
    cancel.disabled = true;
    try { await api("POST", "/api/runs/" + id + "/cancel"); } catch (e) { summary.append(msg("err", e.message)); }
  } });
  const head = el("p", {}, "Status: ", status, " ");
  main.append(el("section", {}, head, el("div", { class: "actions" }, cancel), bar, stats), el("section", {}, el("h2", { text: "Summary" }), summary), el("section", {}, el("h2", { text: "Dirty records" }), dirty), el("section", {}, el("h2", { text: "Output" }), log));
  const stat = (label, v) => el("div", { class: "stat" }, label, el("b", { text: v }));
  const showProgress = p => {
    if (!p) return;
    bar.max = Math.max(p.splitsTotal, 1); bar.value = p.splitsDone;
    stats.replaceChildren(stat("Read", p.records + " records"), stat("Bytes", p.bytes), stat("Speed", p.speed), stat("Records/s", Math.round(p.recordsPerSec)),
      stat("Written", p.written), stat("Filtered", p.filtered), stat("Dirty", p.dirty), stat("Splits", p.splitsDone + "/" + p.splitsTotal), stat("Elapsed", fmtSecs(p.elapsedSecs)), stat("ETA", fmtSecs(p.etaSecs)));
  };
  const showRun = r => {
    head.replaceChildren("Job ", el("a", { href: "#jobs/" + encodeURIComponent(r.job), text: r.job }), r.bizdate ? ", business date " + r.bizdate : "", " — status: ", status);
    status.className = "status " + r.status; status.textContent = r.status;
    cancel.hidden = r.status !== "running";
    showProgress(r.progress);
  };
  const end = async r => {
    showRun(r);
    const list = Array.isArray(r.summary) ? r.summary : r.summary ? [r.summary] : [];
    summary.replaceChildren();
    if (r.error) summary.append(msg("err", r.error));
    if (list.length) summary.append(dataTable({ columns: ["bizdate", "status", "records_read", "records_written", "records_filtered", "records_dirty", "bytes_read", "elapsed_secs"].map(n => ({ name: n })),
      rows: list.map(s => [s.bizdate || "", s.status, s.records_read, s.records_written, s.records_filtered, s.records_dirty, s.bytes_read, s.elapsed_secs].map(v => v === undefined ? null : String(v))) }));
    try {
      const d = await api("GET", "/api/runs/" + id + "/dirty?limit=200");
      dirty.replaceChildren(d.total ? dataTable({ columns: ["reason", "column", "value", "split", "row", "record"].map(n => ({ name: n })),
        rows: d.records.map(x => [x.reason, x.column ?? null, x.value ?? null, x.split ?? null, x.row === undefined ? null : String(x.row), x.record ? JSON.stringify(x.record) : null]) }, d.total + " dirty record(s)") : el("p", { class: "hint", text: "No dirty records." }));
    } catch (e) { dirty.replaceChildren(msg("err", e.message)); }
  };
  if (liveSource) liveSource.close();
  const es = new EventSource("/api/runs/" + encodeURIComponent(id) + "/events?token=" + encodeURIComponent(TOKEN));
  liveSource = es;
  es.addEventListener("state", e => { const s = JSON.parse(e.data); const r = s.run || s; showRun(r); log.textContent = (s.log || []).join("\n"); });
  es.addEventListener("progress", e => showProgress(JSON.parse(e.data)));
  es.addEventListener("log", e => { log.textContent += (log.textContent ? "\n" : "") + JSON.parse(e.data); });
  es.addEventListener("end", e => { es.close(); end(JSON.parse(e.data)); });
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) summary.append(msg("err", "lost the event stream")); };
}

// ------------------------------------------------------------------ staged data
function viewStaged() {
  const path = input("path", "", { placeholder: "/tmp/ferry-demo/staged/person" });
  const limit = input("limit", "10", { type: "number", min: 1 });
  const query = textarea("query", "", { rows: 4, placeholder: "SELECT pt, count(*) FROM '/tmp/ferry-demo/staged/person/**/*.parquet' GROUP BY pt" });
  const pbox = el("div"), qbox = el("div");
  main.replaceChildren(el("h1", { text: "Staged data" }),
    el("section", {}, el("h2", { text: "Preview Parquet" }), el("div", { class: "grid" }, field("Parquet file, folder or glob", path), field("Rows", limit)),
      el("div", { class: "actions" }, el("button", { id: "preview-parquet", text: "Preview", onclick: async () => {
        try { pbox.replaceChildren(dataTable(await api("POST", "/api/preview", { source: "parquet", table: path.value, limit: Number(limit.value) || 10 }))); } catch (e) { pbox.replaceChildren(msg("err", e.message)); }
      } })), pbox),
    el("section", {}, el("h2", { text: "SQL (ferry sql)" }), field("Query: quote Parquet paths or globs as tables", query),
      el("div", { class: "actions" }, el("button", { id: "run-sql", text: "Run query", onclick: async () => {
        try { qbox.replaceChildren(dataTable(await api("POST", "/api/sql", { query: query.value }))); } catch (e) { qbox.replaceChildren(msg("err", e.message)); }
      } })), qbox));
}

// ------------------------------------------------------------------ routing
function route() {
  if (liveSource) { liveSource.close(); liveSource = null; }
  const h = location.hash.slice(1) || "sources";
  const [page, arg] = [h.split("/")[0], decodeURIComponent(h.split("/").slice(1).join("/"))];
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.id === "nav-" + (page === "run" ? "jobs" : page));
  if (page === "wizard") viewWizard();
  else if (page === "jobs" && arg) viewJob(arg);
  else if (page === "jobs") viewJobs();
  else if (page === "run" && arg) viewRun(arg);
  else if (page === "staged") viewStaged();
  else viewSources();
}
window.addEventListener("hashchange", route);
route();
