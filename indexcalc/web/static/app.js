// The playground page (indexcalc serve): derive as the user types, keep the state in the
// URL, render the LaTeX with the bundled KaTeX, copy buttons. The server renders every
// piece of the results panel (escaped); this script only swaps it in.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("form"), results = $("results"), status = $("status");
  const fields = ["src", "wrt", "answer"], flags = ["jacobian", "hessian", "matrix-input"];
  let timer = null, seq = 0, controller = null;

  function renderMath(root) {
    root.querySelectorAll(".math[data-tex]").forEach((el) => {
      if (el.dataset.rendered) return;
      el.dataset.rendered = "1";
      try {
        katex.render(el.dataset.tex, el, {displayMode: true, throwOnError: true, output: "htmlAndMathml"});
      } catch (e) {  // never show raw LaTeX: say so instead
        el.textContent = "(this formula could not be rendered; the index form above says the same)";
        el.classList.add("math-failed");
      }
    });
  }

  function state() {
    const s = {};
    fields.forEach((f) => { s[f] = $(f).value; });
    s.jacobian = $("jacobian").checked ? "1" : "";
    s.hessian = $("hessian").checked ? "1" : "";
    s.matrix = $("matrix-input").checked ? "1" : "";
    return s;
  }

  function url(s) {
    const q = new URLSearchParams();
    ["src", "wrt", "jacobian", "hessian", "matrix", "answer"].forEach((k) => { if (s[k]) q.set(k, s[k]); });
    const text = q.toString();
    return "/" + (text ? "?" + text : "");
  }

  function show(html) {
    const open = new Set(Array.from(results.querySelectorAll("details[open]")).map((d) => d.id));
    const closed = new Set(Array.from(results.querySelectorAll("details:not([open])")).map((d) => d.id));
    results.innerHTML = html;
    results.querySelectorAll("details[id]").forEach((d) => {
      if (open.has(d.id)) d.open = true;
      if (closed.has(d.id)) d.open = false;
    });
    renderMath(results);
  }

  async function derive() {
    const s = state(), mine = ++seq;
    history.replaceState(null, "", url(s));
    if (controller) controller.abort();
    controller = new AbortController();
    document.body.dataset.pending = "1";
    status.textContent = "deriving…";
    try {
      const response = await fetch("/api/derive", {
        method: "POST", headers: {"Content-Type": "application/json"},
        body: JSON.stringify(s), signal: controller.signal});
      const data = await response.json();
      if (mine !== seq) return;
      show(data.html || "");
      status.textContent = "";
      results.dataset.src = s.src;
      delete document.body.dataset.pending;
    } catch (e) {
      if (e.name === "AbortError" || mine !== seq) return;
      status.textContent = "the indexcalc server does not answer (is indexcalc serve still running?)";
      delete document.body.dataset.pending;
    }
  }

  function later() {
    clearTimeout(timer);
    document.body.dataset.pending = "1";
    timer = setTimeout(derive, 300);
  }

  fields.forEach((f) => $(f).addEventListener("input", later));
  $("src").addEventListener("input", () => {  // edited: no longer the example picked
    const ex = gallery[$("example").value];
    if (ex && ex.src !== $("src").value) $("example").value = "";
  });
  flags.forEach((f) => $(f).addEventListener("change", derive));
  form.addEventListener("submit", (e) => { e.preventDefault(); derive(); });

  const gallery = JSON.parse($("gallery").textContent);
  $("example").addEventListener("change", (e) => {
    const ex = gallery[e.target.value];
    if (!ex) return;
    $("src").value = ex.src;
    $("wrt").value = ex.wrt;
    derive();
  });

  results.addEventListener("click", (e) => {
    const button = e.target.closest("button.copy");
    if (!button) return;
    const text = $(button.dataset.copy).textContent;
    const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallback(text, done));
    } else {
      fallback(text, done);
    }
  });

  function fallback(text, done) {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } finally { area.remove(); }
  }

  renderMath(results);
  results.dataset.src = $("src").value;
  document.body.dataset.ready = "1";
})();
