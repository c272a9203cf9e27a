// The web edition's script: footnotes open where they are called, and the search box.
// Everything it loads is a file of this site (no request leaves it).
(function () {
  "use strict";
  var root = new URL("../", document.currentScript.src);   // the site's root folder

  // Footnotes: pandoc writes them at the end of the page, each with a link back to its call.
  // A click on a call shows the note beside it (a popover: Esc or a click elsewhere closes it),
  // with the same back link; without the script the call still leads to the note.
  function setupNotes() {
    var calls = document.querySelectorAll("a.footnote-ref");
    if (!calls.length || !HTMLElement.prototype.hasOwnProperty("popover")) return;
    var pop = document.createElement("aside");
    pop.id = "note-popover";
    pop.setAttribute("popover", "auto");
    pop.setAttribute("role", "note");
    pop.tabIndex = -1;
    document.body.appendChild(pop);
    var current = null;
    calls.forEach(function (call) {
      call.setAttribute("aria-haspopup", "true");
      call.setAttribute("aria-controls", "note-popover");
      call.addEventListener("click", function (event) {
        var note = document.getElementById(decodeURIComponent(call.hash.slice(1)));
        if (!note) return;
        event.preventDefault();
        pop.replaceChildren();
        var number = document.createElement("span");
        number.className = "note-number";
        number.textContent = call.textContent + " ";
        pop.appendChild(number);
        note.childNodes.forEach(function (n) { pop.appendChild(n.cloneNode(true)); });
        pop.lang = note.closest("[lang]").lang;
        pop.dir = getComputedStyle(note).direction;
        var r = call.getBoundingClientRect();
        pop.style.top = Math.min(r.bottom + 6, window.innerHeight - 40) + "px";
        pop.style.left = Math.max(8, Math.min(r.left - 40, window.innerWidth - 360)) + "px";
        current = call;
        if (pop.matches(":popover-open")) pop.hidePopover();
        pop.showPopover();
        pop.focus();
        call.setAttribute("aria-expanded", "true");
      });
    });
    pop.addEventListener("toggle", function (event) {
      if (event.newState === "closed" && current) current.setAttribute("aria-expanded", "false");
    });
    pop.addEventListener("click", function (event) {
      var back = event.target.closest("a.footnote-back");
      if (!back) return;
      event.preventDefault();
      pop.hidePopover();
      history.pushState(null, "", back.hash);
      var call = document.getElementById(decodeURIComponent(back.hash.slice(1)));
      if (call) { call.scrollIntoView({block: "center"}); call.focus(); }
    });
  }

  // Search: Pagefind's own interface, in the page's language, over this edition's index.
  function setupSearch() {
    var box = document.getElementById("search");
    if (!box) return;
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = new URL("pagefind/pagefind-ui.css", root).href;
    document.head.appendChild(css);
    var script = document.createElement("script");
    script.src = new URL("pagefind/pagefind-ui.js", root).href;
    script.onload = function () {
      /* global PagefindUI */
      new PagefindUI({element: "#search", showImages: false, showSubResults: true,
                      bundlePath: new URL("pagefind/", root).pathname, baseUrl: root.pathname});
      // Pagefind names its box by a title only; a screen reader wants a label (axe: label-title-only).
      (function label() {
        var input = box.querySelector("input");
        if (!input) return requestAnimationFrame(label);
        input.setAttribute("aria-label", input.getAttribute("placeholder") || input.title || "search");
        box.dataset.ready = "true";
      })();
    };
    script.onerror = function () { box.hidden = true; };   // not indexed yet (preview)
    document.head.appendChild(script);
  }

  setupNotes();
  setupSearch();
})();
