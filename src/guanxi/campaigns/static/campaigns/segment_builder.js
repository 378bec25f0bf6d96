// The segment builder: a rule tree editor (all / any / none-of groups of conditions) with a live count.
// Loaded from a file (CSP: no inline script); its data comes from the json_script tag "segment-builder-data":
// {tree, errors, fields: {groups: [{key, label, fields: [...]}]}, preview_url, text}.
(function () {
  "use strict";
  const dataTag = document.getElementById("segment-builder-data");
  const root = document.getElementById("segment-builder");
  const form = document.getElementById("segment-form");
  if (!dataTag || !root || !form) return;
  const data = JSON.parse(dataTag.textContent);
  const T = data.text || {};
  const rulesInput = form.querySelector("textarea[name=rules]");
  const fallback = form.querySelector("[data-rules-fallback]");
  const errorList = document.getElementById("segment-rule-errors");
  const countEl = document.getElementById("segment-count");
  const statusEl = document.getElementById("segment-preview-status");
  const sample = document.getElementById("segment-sample");
  const segmentId = (window.location.pathname.match(/segments\/(\d+)\//) || [])[1] || null;
  const NO_VALUE = ["is_true", "is_false"];
  const DAYS = ["within_days", "not_within_days"];
  const MULTI = ["in", "not_in"];

  const fields = {};
  (data.fields.groups || []).forEach((g) => g.fields.forEach((f) => (fields[f.key] = f)));

  if (fallback) fallback.hidden = true;

  // --- the model ------------------------------------------------------------------------------------------------
  function parse(node) {
    if (node && Array.isArray(node.all)) return { kind: "all", items: node.all.map(parse) };
    if (node && Array.isArray(node.any)) return { kind: "any", items: node.any.map(parse) };
    if (node && node.not !== undefined) {
      const inner = node.not;
      if (inner && Array.isArray(inner.any)) return { kind: "not", items: inner.any.map(parse) };
      return { kind: "not", items: [parse(inner)] };
    }
    const leaf = { leaf: true, field: "", op: "", value: "", params: {} };
    if (node && typeof node === "object") {
      leaf.field = node.field || "";
      leaf.op = node.op || "";
      leaf.value = node.value === undefined || node.value === null ? "" : node.value;
      Object.keys(node).forEach((k) => {
        if (!["field", "op", "value"].includes(k)) leaf.params[k] = node[k];
      });
    }
    return leaf;
  }

  let tree = parse(data.tree || { all: [] });
  if (tree.leaf) tree = { kind: "all", items: [tree] };

  // The tree as the server reads it; paths[place] = the node's element, for placing errors.
  function serialize(node, where, paths) {
    if (node.leaf) {
      if (node.el) paths[where] = node.el;
      const out = { field: node.field, op: node.op };
      if (!NO_VALUE.includes(node.op)) out.value = node.value;
      Object.keys(node.params).forEach((k) => {
        if (node.params[k] !== "") out[k] = node.params[k];
      });
      return out;
    }
    if (node.el) paths[where] = node.el;
    if (node.kind === "not") {
      const inner = where + ".not.any";
      return { not: { any: node.items.map((item, i) => serialize(item, inner + "." + i, paths)) } };
    }
    const out = {};
    out[node.kind] = node.items.map((item, i) => serialize(item, where + "." + node.kind + "." + i, paths));
    return out;
  }

  // --- the elements -------------------------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") e.textContent = v;
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach((c) => c && e.appendChild(c));
    return e;
  }

  let uid = 0;
  function labelled(control, text) {
    uid += 1;
    control.id = control.id || "segment-input-" + uid;
    return [el("label", { for: control.id, class: "visually-hidden", text: text }), control];
  }

  function fieldSelect(leaf) {
    const select = el("select", { "data-role": "field" });
    select.appendChild(el("option", { value: "", text: T.chooseField }));
    (data.fields.groups || []).forEach((g) => {
      const group = el("optgroup", { label: g.label });
      g.fields.forEach((f) => group.appendChild(el("option", { value: f.key, text: f.label, selected: f.key === leaf.field })));
      select.appendChild(group);
    });
    if (leaf.field && !fields[leaf.field]) select.appendChild(el("option", { value: leaf.field, text: leaf.field, selected: true }));
    select.addEventListener("change", () => {
      leaf.field = select.value;
      const f = fields[leaf.field];
      leaf.op = f ? f.operators[0].key : "";
      leaf.value = "";
      leaf.params = {};
      render();
      changed();
    });
    return select;
  }

  function valueInput(leaf, f) {
    if (NO_VALUE.includes(leaf.op)) return null;
    let input;
    if (DAYS.includes(leaf.op)) {
      input = el("input", { type: "number", min: "1", max: "36500", step: "1", value: leaf.value, "data-role": "value", class: "segment-days" });
    } else if (f && f.choices) {
      const multi = MULTI.includes(leaf.op);
      input = el("select", { "data-role": "value", multiple: multi });
      const chosen = (Array.isArray(leaf.value) ? leaf.value : [leaf.value]).map(String);
      if (!multi) input.appendChild(el("option", { value: "", text: T.chooseValue }));
      f.choices.forEach(([v, label]) =>
        input.appendChild(el("option", { value: String(v), text: label, selected: chosen.includes(String(v)) })),
      );
      input.addEventListener("change", () => {
        leaf.value = multi ? Array.from(input.selectedOptions).map((o) => o.value) : input.value;
        changed();
      });
      return input;
    } else if (f && f.type === "boolean") {
      input = el("select", { "data-role": "value" });
      [["1", T.yes], ["0", T.no]].forEach(([v, label]) =>
        input.appendChild(el("option", { value: v, text: label, selected: String(leaf.value) === v })),
      );
      if (leaf.value === "" || leaf.value === true) leaf.value = "1";
    } else if (f && (f.type === "number" || f.type === "money")) {
      if (leaf.op === "between") return betweenInputs(leaf);
      input = el("input", { type: "number", step: f.type === "money" ? "0.01" : "1", value: leaf.value, "data-role": "value" });
    } else {
      const placeholder = f && f.type === "date" ? "2026-03-01" : "";
      input = el("input", { type: "text", value: Array.isArray(leaf.value) ? leaf.value.join(",") : leaf.value, placeholder: placeholder, maxlength: "200", "data-role": "value" });
    }
    input.addEventListener(input.tagName === "SELECT" ? "change" : "input", () => {
      leaf.value = input.value;
      changed();
    });
    return input;
  }

  function betweenInputs(leaf) {
    const pair = Array.isArray(leaf.value) ? leaf.value.slice(0, 2) : ["", ""];
    leaf.value = pair;
    const span = el("span", { class: "segment-between" });
    [0, 1].forEach((i) => {
      const input = el("input", { type: "number", value: pair[i], "data-role": "value" });
      input.addEventListener("input", () => {
        leaf.value[i] = input.value;
        changed();
      });
      span.appendChild(input);
    });
    return span;
  }

  function renderLeaf(leaf, parent) {
    const f = fields[leaf.field];
    const row = el("div", { class: "segment-condition" });
    leaf.el = row;
    labelled(fieldSelect(leaf), T.field).forEach((c) => row.appendChild(c));
    if (f) {
      if (!f.operators.some((o) => o.key === leaf.op)) leaf.op = f.operators[0].key;
      const op = el("select", { "data-role": "op" });
      f.operators.forEach((o) => op.appendChild(el("option", { value: o.key, text: o.label, selected: o.key === leaf.op })));
      op.addEventListener("change", () => {
        const wasMulti = MULTI.includes(leaf.op);
        leaf.op = op.value;
        if (wasMulti !== MULTI.includes(leaf.op) || NO_VALUE.includes(leaf.op) || DAYS.includes(leaf.op)) leaf.value = "";
        render();
        changed();
      });
      labelled(op, T.operator).forEach((c) => row.appendChild(c));
      const value = valueInput(leaf, f);
      if (value) labelled(value, T.value).forEach((c) => row.appendChild(c));
      (f.params || []).forEach((name) => {
        const p = el("input", { type: "number", min: "1", max: "36500", step: "1", value: leaf.params[name] ?? "", "data-param": name, class: "segment-param" });
        p.addEventListener("input", () => {
          leaf.params[name] = p.value;
          changed();
        });
        row.appendChild(el("label", { for: "segment-param-" + (++uid), class: "segment-param-label", text: (T.params && T.params[name]) || name }));
        p.id = "segment-param-" + uid;
        row.appendChild(p);
      });
      if (f.help) row.title = f.help;
    }
    const remove = el("button", { type: "button", class: "link-button segment-remove", text: T.remove });
    remove.addEventListener("click", () => {
      parent.items.splice(parent.items.indexOf(leaf), 1);
      render();
      changed();
    });
    row.appendChild(remove);
    return row;
  }

  function renderGroup(group, parent) {
    const box = el("div", { class: "segment-group segment-group-" + group.kind });
    group.el = box;
    const head = el("div", { class: "segment-group-head" });
    const kind = el("select", { "data-role": "group-kind" });
    ["all", "any", "not"].forEach((k) => kind.appendChild(el("option", { value: k, text: T[k], selected: k === group.kind })));
    kind.addEventListener("change", () => {
      group.kind = kind.value;
      render();
      changed();
    });
    labelled(kind, T.groupKind).forEach((c) => head.appendChild(c));
    if (parent) {
      const remove = el("button", { type: "button", class: "link-button segment-remove", text: T.remove });
      remove.addEventListener("click", () => {
        parent.items.splice(parent.items.indexOf(group), 1);
        render();
        changed();
      });
      head.appendChild(remove);
    }
    box.appendChild(head);
    const list = el("div", { class: "segment-items" });
    group.items.forEach((item) => list.appendChild(item.leaf ? renderLeaf(item, group) : renderGroup(item, group)));
    box.appendChild(list);
    const actions = el("div", { class: "segment-group-actions" });
    const addCondition = el("button", { type: "button", class: "button secondary", "data-action": "add-condition", text: T.addCondition });
    addCondition.addEventListener("click", () => {
      group.items.push({ leaf: true, field: "", op: "", value: "", params: {} });
      render();
    });
    const addGroup = el("button", { type: "button", class: "button secondary", "data-action": "add-group", text: T.addGroup });
    addGroup.addEventListener("click", () => {
      group.items.push({ kind: "any", items: [{ leaf: true, field: "", op: "", value: "", params: {} }] });
      render();
    });
    actions.appendChild(addCondition);
    if (depth(group) < 5) actions.appendChild(addGroup);
    box.appendChild(actions);
    return box;
  }

  function depth(target, node = tree, d = 0) {
    if (node === target) return d;
    for (const item of node.items || []) {
      const found = depth(target, item, d + 1);
      if (found >= 0) return found;
    }
    return -1;
  }

  function render() {
    root.replaceChildren(renderGroup(tree, null));
  }

  // --- errors -------------------------------------------------------------------------------------------------------
  function clearErrors() {
    root.querySelectorAll(".segment-error").forEach((e) => e.remove());
    root.querySelectorAll(".has-error").forEach((e) => e.classList.remove("has-error"));
    errorList.replaceChildren();
  }

  function showErrors(errors, paths) {
    clearErrors();
    const places = Object.keys(paths).sort((a, b) => b.length - a.length);
    Object.entries(errors || {}).forEach(([key, messages]) => {
      const place = places.find((p) => key === p || key.startsWith(p + "."));
      const text = (Array.isArray(messages) ? messages : [messages]).join(" ");
      if (place) {
        const target = paths[place];
        target.classList.add("has-error");
        const p = el("p", { class: "error segment-error", role: "alert", "data-error-for": key, text: text });
        if (target.classList.contains("segment-group")) target.insertBefore(p, target.children[1] || null);
        else target.appendChild(p);
      } else {
        errorList.appendChild(el("li", { class: "error", text: text }));
      }
    });
  }

  // --- the live preview -------------------------------------------------------------------------------------------
  let timer = null;
  let inFlight = null;

  function csrf() {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function complete(node) {
    if (node.leaf) return Boolean(node.field);
    return node.items.length > 0 && node.items.every(complete);
  }

  function changed() {
    const paths = {};
    const rules = serialize(tree, "rules", paths);
    rulesInput.value = JSON.stringify(rules);
    clearTimeout(timer);
    if (!tree.items.length || !complete(tree)) {
      clearErrors();
      countEl.textContent = "—";
      statusEl.textContent = T.empty;
      sample.hidden = true;
      return;
    }
    timer = setTimeout(() => preview(rules, paths), 400);
  }

  function preview(rules, paths) {
    if (inFlight) inFlight.abort();
    inFlight = new AbortController();
    statusEl.textContent = T.counting;
    root.closest("form").setAttribute("aria-busy", "true");
    fetch(data.preview_url, {
      method: "POST",
      signal: inFlight.signal,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ rules: rules, segment: segmentId }),
    })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body: body })))
      .then(({ ok, body }) => {
        root.closest("form").removeAttribute("aria-busy");
        if (!ok) {
          showErrors(body.errors || {}, paths);
          countEl.textContent = "—";
          statusEl.textContent = T.refused;
          sample.hidden = true;
          return;
        }
        clearErrors();
        countEl.textContent = Number(body.count).toLocaleString();
        countEl.dataset.count = String(body.count);
        statusEl.textContent = body.count ? T.sample : T.none;
        const tbody = sample.querySelector("tbody");
        tbody.replaceChildren(
          ...body.rows.map((r) => el("tr", {}, [el("td", { text: r.name }), el("td", { class: "mono", text: r.phone || "—" }), el("td", { text: r.store || "—" })])),
        );
        sample.hidden = !body.rows.length;
      })
      .catch((error) => {
        if (error.name === "AbortError") return;
        root.closest("form").removeAttribute("aria-busy");
        statusEl.textContent = T.failed;
      });
  }

  form.addEventListener("submit", () => {
    rulesInput.value = JSON.stringify(serialize(tree, "rules", {}));
  });
  document.querySelectorAll("form[data-confirm]").forEach((f) =>
    f.addEventListener("submit", (event) => {
      if (!window.confirm(f.dataset.confirm)) event.preventDefault();
    }),
  );

  render();
  const paths = {};
  rulesInput.value = JSON.stringify(serialize(tree, "rules", paths));
  if (data.errors && Object.keys(data.errors).length) {
    showErrors(data.errors, paths);
  } else {
    changed();
  }
})();
