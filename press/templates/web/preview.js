// The live preview's client (press/preview.py adds it to every page it serves): reload when this
// page's edition was rebuilt, show a build error as the build prints it, and the PDF on request.
(function () {
  "use strict";
  var me = document.currentScript;
  var page = me.dataset.page, version = Number(me.dataset.version);
  var lang = page === "*" ? "" : page;
  var panel = null, bar = null, pdfLink = null, errorShown = false;

  function showError(text) {
    if (!panel) {
      panel = document.createElement("pre");
      panel.id = "press-preview-error";
      panel.setAttribute("role", "alert");
      panel.lang = "en";
      document.body.prepend(panel);
    }
    panel.textContent = text;
    errorShown = true;
  }

  function toolbar() {
    if (!lang || bar) return;
    bar = document.createElement("div");
    bar.id = "press-preview-bar";
    bar.lang = "en";
    bar.dir = "ltr";
    bar.style.cssText = "position:fixed;inset:auto 0.75rem 0.75rem auto;z-index:999;font:13px/1.4 sans-serif;" +
      "background:#222;color:#fff;padding:0.4rem 0.7rem;border-radius:6px;display:flex;gap:0.6rem;align-items:center";
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "PDF";
    button.addEventListener("click", function () {
      button.disabled = true;
      fetch("/__preview/pdf?lang=" + encodeURIComponent(lang), {method: "POST"});
    });
    pdfLink = document.createElement("span");
    bar.append("preview", button, pdfLink);
    document.body.appendChild(bar);
  }

  function pdf(state) {
    if (!pdfLink || !state) return;
    pdfLink.replaceChildren();
    if (state.state === "building") pdfLink.textContent = "rendering the PDF…";
    else if (state.state === "error") pdfLink.textContent = state.error;
    else if (state.state === "ready") {
      var a = document.createElement("a");
      a.href = state.url + "?" + Date.now();
      a.target = "_blank";
      a.style.color = "#9cf";
      a.textContent = "open the PDF";
      pdfLink.appendChild(a);
      bar.querySelector("button").disabled = false;
    }
  }

  toolbar();
  var events = new EventSource("/__preview/events?page=" + encodeURIComponent(page));
  events.onmessage = function (event) {
    var s = JSON.parse(event.data);
    if (s.error) { showError(s.error); return; }
    var v = s.versions[page] || 0;
    if (v > version || errorShown) { events.close(); location.reload(); return; }
    if (lang) pdf(s.pdfs[lang]);
  };
})();
