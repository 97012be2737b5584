// The Code tab's editor: CodeMirror 6 over the page's plain form. Without
// this script the form still works (one textarea per file); with it, the
// files become tabs over one code editor with highlighting, line numbers,
// bracket matching, search, Tab indenting (Escape, then Tab, leaves the
// editor), Ctrl/Cmd-S to save, and the build's problems on their lines as
// you type (POST /apps/<slug>/check). The form's fields stay the source of
// truth: the editor writes them back before every submit and check.
//
// Bundled into static/js/editor.js by `make assets` (cmd/assets); the bundle
// is committed and CI checks that it matches this source.
import { EditorState, Compartment } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, indentOnInput, syntaxHighlighting, defaultHighlightStyle, foldGutter } from "@codemirror/language";
import { javascript } from "@codemirror/lang-javascript";
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { setDiagnostics, lintGutter } from "@codemirror/lint";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";

const CHECK_DELAY_MS = 700;

function init(form) {
  const files = form.querySelector("#files");
  if (!files) return;
  const csrf = form.querySelector("input[name=_csrf]").value;
  const checkURL = form.dataset.check;
  const maxFiles = Number(form.dataset.maxFiles) || 50;
  const saveButton = form.querySelector("#save-version");

  // The empty "new file" slot is the no-JavaScript way to add a file; tabs
  // have their own button, so it leaves the page (it was never filled).
  const template = files.querySelector("fieldset.new-file");
  if (template) template.remove();

  const slots = () => [...files.querySelectorAll("fieldset.file-slot")];
  const states = new WeakMap(); // slot → EditorState
  const language = new Compartment();
  let current = null;
  let lastRenamed = null; // the slot whose name was edited last: a name clash is its doing
  const serverProblems = new WeakMap(); // slot → the last check's problems of that file
  const nameProblems = new Map(); // slot → what is wrong with its name, checked here as you type
  let checkTimer = null;
  let checkSeq = 0;

  const langFor = (name) => javascript({ typescript: /\.(ts|mts|cts)$/.test(name) });
  const nameOf = (slot) => slot.querySelector("input[name=file_name]").value.trim();
  const textarea = (slot) => slot.querySelector("textarea[name=file_code]");

  const extensions = [
    lineNumbers(), highlightActiveLineGutter(), foldGutter(), lintGutter(), highlightSpecialChars(),
    history(), drawSelection(), indentOnInput(), bracketMatching(), closeBrackets(), highlightActiveLine(),
    highlightSelectionMatches(), syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    EditorView.lineWrapping,
    keymap.of([
      { key: "Mod-s", preventDefault: true, run: () => { save(); return true; } },
      ...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, indentWithTab,
    ]),
    EditorView.updateListener.of((u) => { if (u.docChanged) scheduleCheck(); }),
    EditorView.contentAttributes.of({ "aria-label": "Code" }),
    // CodeMirror's styles go into a <style> element, which the page's CSP
    // admits only with this response's nonce.
    EditorView.cspNonce.of(form.dataset.styleNonce || ""),
  ];

  function stateFor(slot) {
    let st = states.get(slot);
    if (!st) {
      st = EditorState.create({ doc: textarea(slot).value, extensions: [extensions, language.of(langFor(nameOf(slot)))] });
      states.set(slot, st);
    }
    return st;
  }

  // The tab bar and the editor take the place of the slots' textareas.
  // Only the file tabs are in the tablist; "+ File" and "Delete" are plain
  // buttons beside it (a tablist may hold nothing but tabs).
  const bar = document.createElement("div");
  bar.className = "file-tabs";
  const list = document.createElement("div");
  list.className = "file-tablist";
  list.setAttribute("role", "tablist");
  list.setAttribute("aria-label", "Files");
  const host = document.createElement("div");
  host.className = "cm-host";
  host.setAttribute("role", "tabpanel");
  files.before(bar);
  files.after(host);
  files.classList.add("enhanced");
  // Made with a state that carries the CSP nonce: a first mount without it
  // would insert CodeMirror's <style> element unstamped, and the CSP would drop it.
  const view = new EditorView({ parent: host, state: EditorState.create({ extensions }) });

  function sync() {
    if (current) states.set(current, view.state);
    for (const slot of slots()) {
      const st = states.get(slot);
      if (st) textarea(slot).value = st.doc.toString();
    }
  }

  function show(slot) {
    if (current && current !== slot) states.set(current, view.state);
    current = slot;
    view.setState(stateFor(slot));
    for (const s of slots()) s.classList.toggle("active", s === slot);
    render();
  }

  function render() {
    list.replaceChildren();
    bar.replaceChildren(list);
    slots().forEach((slot, i) => {
      const tab = document.createElement("button");
      tab.type = "button";
      tab.className = "file-tab";
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-selected", String(slot === current));
      const main = slot.querySelector("input[name=main_index]").checked;
      const bad = (serverProblems.get(slot) || []).length + (nameProblems.has(slot) ? 1 : 0);
      tab.textContent = (nameOf(slot) || "untitled") + (main ? " (main)" : "") + (bad ? " ⚠ " + bad : "");
      tab.addEventListener("click", () => show(slot));
      list.append(tab);
      slot.querySelector("input[name=main_index]").value = String(i);
    });
    const add = document.createElement("button");
    add.type = "button";
    add.className = "file-tab add";
    add.textContent = "+ File";
    add.disabled = slots().length >= maxFiles;
    add.title = add.disabled ? "At most " + maxFiles + " files" : "Add a file";
    add.addEventListener("click", addFile);
    bar.append(add);
    if (current) {
      const del = document.createElement("button");
      del.type = "button";
      del.className = "file-tab remove";
      del.textContent = "Delete " + (nameOf(current) || "file");
      del.addEventListener("click", () => removeFile(current));
      bar.append(del);
    }
  }

  function addFile() {
    const n = slots().length;
    const slot = document.createElement("fieldset");
    slot.className = "file-slot";
    slot.innerHTML =
      '<legend>New file</legend><div class="file-head row">' +
      '<label class="field grow"><span>File name</span><input type="text" name="file_name" maxlength="128" placeholder="lib.js"></label>' +
      '<label class="check"><input type="radio" name="main_index"> main module</label></div>' +
      '<div class="editor"><textarea name="file_code" spellcheck="false" autocomplete="off" rows="6" aria-label="Code of a new file"></textarea></div>';
    slot.querySelector("input[name=main_index]").value = String(n);
    let name = "lib.js";
    for (let i = 2; slots().some((s) => nameOf(s) === name); i++) name = "lib" + i + ".js";
    slot.querySelector("input[name=file_name]").value = name;
    files.append(slot);
    wire(slot);
    show(slot);
    slot.querySelector("input[name=file_name]").select();
    slot.querySelector("input[name=file_name]").focus();
  }

  function removeFile(slot) {
    const st = slot === current ? view.state : states.get(slot);
    const text = st ? st.doc.toString() : textarea(slot).value;
    if (text.trim() !== "" && !window.confirm("Delete " + (nameOf(slot) || "this file") + "? Its code is removed from the next version you save.")) return;
    const wasMain = slot.querySelector("input[name=main_index]").checked;
    slot.remove();
    current = null;
    const rest = slots();
    if (rest.length === 0) {
      addFile();
      return;
    }
    if (wasMain && rest.length === 1) rest[0].querySelector("input[name=main_index]").checked = true;
    show(rest[0]);
    checkNames();
    scheduleCheck();
  }

  // checkNames finds what is wrong with the names before any request: a file
  // with code but no name, and two files with one name (in any case). The
  // clash is put on the file renamed last (else on the later one), where the
  // tenant's attention is.
  function checkNames() {
    nameProblems.clear();
    const groups = new Map();
    for (const slot of slots()) {
      const name = nameOf(slot);
      if (name === "") {
        if (textarea(slot).value.trim() !== "" || (states.get(slot) && states.get(slot).doc.length > 0)) {
          nameProblems.set(slot, "This file has no name: name it (like lib.js) or delete it.");
        }
        continue;
      }
      const key = name.toLowerCase();
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(slot);
    }
    for (const group of groups.values()) {
      if (group.length < 2) continue;
      const clashing = group.includes(lastRenamed) ? [lastRenamed] : group.slice(1);
      for (const slot of clashing) {
        const other = group.find((s) => s !== slot);
        nameProblems.set(slot, nameOf(other) === nameOf(slot)
          ? "Another file is already named " + nameOf(slot) + "; choose another name."
          : "This name differs from " + nameOf(other) + " only in case; choose another name.");
      }
    }
    showProblems();
    return nameProblems.size === 0;
  }

  // showProblems lists, above each file's code, its name problem and the
  // problems that have no line (those with one are marked on it).
  function showProblems() {
    for (const slot of slots()) {
      let ul = slot.querySelector("ul.slot-problems");
      if (!ul) {
        ul = document.createElement("ul");
        ul.className = "problems slot-problems";
        ul.setAttribute("aria-live", "polite");
        slot.querySelector(".file-head").after(ul);
      }
      const msgs = [];
      if (nameProblems.has(slot)) msgs.push(nameProblems.get(slot));
      for (const p of serverProblems.get(slot) || []) if (!(p.line > 0)) msgs.push(p.message);
      ul.replaceChildren(...msgs.map((m) => Object.assign(document.createElement("li"), { textContent: m })));
      ul.hidden = msgs.length === 0;
      const input = slot.querySelector("input[name=file_name]");
      if (nameProblems.has(slot)) input.setAttribute("aria-invalid", "true");
      else if (!(serverProblems.get(slot) || []).length) input.removeAttribute("aria-invalid");
    }
    render();
  }

  function wire(slot) {
    slot.querySelector("input[name=file_name]").addEventListener("input", () => {
      lastRenamed = slot;
      checkNames();
      // The language follows the name (.ts is TypeScript).
      const effects = language.reconfigure(langFor(nameOf(slot)));
      if (slot === current) view.dispatch({ effects });
      else if (states.has(slot)) states.set(slot, states.get(slot).update({ effects }).state);
      render();
      scheduleCheck();
    });
    slot.querySelector("input[name=main_index]").addEventListener("change", () => { render(); scheduleCheck(); });
  }

  function save() {
    sync();
    if (saveButton) form.requestSubmit(saveButton);
    else form.requestSubmit();
  }

  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, CHECK_DELAY_MS);
  }

  async function check() {
    if (!checkURL) return;
    sync();
    const seq = ++checkSeq;
    const body = new URLSearchParams();
    for (const slot of slots()) {
      body.append("file_name", slot.querySelector("input[name=file_name]").value);
      body.append("file_code", textarea(slot).value);
    }
    const main = form.querySelector("input[name=main_index]:checked");
    if (main) body.append("main_index", main.value);
    let out;
    try {
      const r = await fetch(checkURL, { method: "POST", body, headers: { "X-Csrf-Token": csrf, Accept: "application/json" }, credentials: "same-origin" });
      if (!r.ok) return;
      out = await r.json();
    } catch {
      return; // offline: the save will say it
    }
    if (seq !== checkSeq) return; // a newer check is on its way
    mark(out.problems || []);
  }

  // mark puts each problem on its file's line; problems of no file go to the
  // message area above the editor.
  function mark(problems) {
    sync();
    const bySlot = new Map();
    const general = [];
    for (const p of problems) {
      // Name clashes and nameless files are checked here, on the file the tenant renamed.
      const sl = p.slot >= 0 ? slots()[p.slot] : null;
      if (p.kind === "duplicate" || (p.kind === "bad_name" && sl && nameOf(sl) === "")) continue;
      if (p.slot >= 0) {
        if (!bySlot.has(p.slot)) bySlot.set(p.slot, []);
        bySlot.get(p.slot).push(p);
      } else general.push(p);
    }
    slots().forEach((slot, i) => {
      const list = bySlot.get(i) || [];
      serverProblems.set(slot, list);
      const st = slot === current ? view.state : stateFor(slot);
      const doc = st.doc;
      const diags = list.filter((p) => p.line > 0).map((p) => {
        const line = doc.line(Math.min(Math.max(p.line || 1, 1), doc.lines));
        const from = Math.min(line.from + Math.max((p.column || 1) - 1, 0), line.to);
        return { from, to: Math.max(from, Math.min(from + 1, line.to)), severity: "error", message: p.message };
      });
      const tr = st.update(setDiagnostics(st, diags));
      if (slot === current) view.dispatch(tr);
      else states.set(slot, tr.state);
    });
    const area = form.querySelector("#live-problems");
    if (area) {
      area.replaceChildren(...general.map((p) => Object.assign(document.createElement("li"), { textContent: p.message })));
      area.hidden = general.length === 0;
    }
    checkNames();
  }

  // A save with a nameless file or a name clash is stopped here, on that
  // file; nothing leaves the page and nothing typed is lost.
  form.addEventListener("submit", (e) => {
    sync();
    if (checkNames()) return;
    e.preventDefault();
    const bad = slots().find((s) => nameProblems.has(s));
    show(bad);
    bad.querySelector("input[name=file_name]").focus();
  });
  // For scripts and tests: the files as the editor holds them.
  form.clawEditor = {
    view,
    files: () => {
      sync();
      return slots().map((s) => ({ name: nameOf(s), code: textarea(s).value, main: s.querySelector("input[name=main_index]").checked }));
    },
  };
  for (const slot of slots()) wire(slot);
  // The server's problems from a refused save, on their lines at once.
  const initial = [];
  slots().forEach((slot, i) => {
    for (const li of slot.querySelectorAll(".file-problems li")) {
      initial.push({ slot: i, kind: li.dataset.kind, line: Number(li.dataset.line) || 0, column: Number(li.dataset.column) || 1, message: li.textContent.replace(/^\s*line \d+:\d+\s*/, "").trim() });
    }
  });
  const first = slots().find((s) => s.querySelector(".file-problems")) || slots()[0];
  if (first) show(first);
  if (initial.length) mark(initial);
  else checkNames();
}

const form = document.getElementById("editor-form");
if (form) init(form);
