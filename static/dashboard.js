// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // "/" focuses the jump box, unless the user is typing somewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target.closest("input, textarea, select, [contenteditable]")) return;
    var box = document.getElementById("jump-q");
    if (box) {
      event.preventDefault();
      box.focus();
    }
  });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      dismiss.parentElement.remove();
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      navigator.clipboard.writeText(copy.getAttribute("data-copy")).then(function () {
        var label = copy.textContent;
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = label; }, 1500);
      });
    }
  });

  // Filter forms leave empty fields out of the request, so pushed URLs stay short and shareable.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt.matches || !event.detail.elt.matches("form[data-drop-empty]")) return;
    var params = event.detail.parameters;
    Array.from(params.keys ? params.keys() : Object.keys(params)).forEach(function (key) {
      var value = params.get ? params.get(key) : params[key];
      if (value === "" || value === null) {
        if (params.delete) { params.delete(key); } else { delete params[key]; }
      }
    });
  });

  // On a phone the filter panel starts folded (unless filters are in use), so results come first.
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.matchMedia("(max-width: 640px)").matches) return;
    document.querySelectorAll('details[data-collapse-on-phone="yes"]').forEach(function (panel) {
      panel.open = false;
    });
  });

  // Keep aria-busy in step with htmx requests so screen readers know results are loading.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target) target.setAttribute("aria-busy", "true");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var target = event.detail.target;
    if (target) target.setAttribute("aria-busy", "false");
  });
})();

// Tabs on the customer page (role="tablist"): arrow keys, Home and End move between tabs and open them.
(function () {
  "use strict";

  document.addEventListener("keydown", function (event) {
    var tab = event.target.closest && event.target.closest('[role="tablist"] [role="tab"]');
    if (!tab || event.ctrlKey || event.metaKey || event.altKey) return;
    var tabs = Array.prototype.slice.call(tab.closest('[role="tablist"]').querySelectorAll('[role="tab"]'));
    var index = tabs.indexOf(tab);
    var next = null;
    if (event.key === "ArrowRight" || event.key === "ArrowDown") next = tabs[(index + 1) % tabs.length];
    else if (event.key === "ArrowLeft" || event.key === "ArrowUp") next = tabs[(index - 1 + tabs.length) % tabs.length];
    else if (event.key === "Home") next = tabs[0];
    else if (event.key === "End") next = tabs[tabs.length - 1];
    else if (event.key === " ") next = tab;
    if (!next) return;
    event.preventDefault();
    next.focus();
    if (next.getAttribute("aria-selected") !== "true") next.click();
  });

  // The tab strip is redrawn with its panel; keep focus on the newly selected tab.
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail.requestConfig;
    var trigger = config && config.elt;
    if (!trigger || trigger.getAttribute("role") !== "tab") return;
    var selected = document.querySelector('[role="tablist"] [role="tab"][aria-selected="true"]');
    if (selected) selected.focus();
  });
})();
