// papertide: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";
  // Filters apply as soon as they change (without JavaScript, a button submits them).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) { select.form.requestSubmit ? select.form.requestSubmit() : select.form.submit(); }
    });
  });
  // A one-click rating link from a digest: the page's single button is pressed at once
  // (mail scanners that fetch links run no scripts, so they never rate anything).
  var rating = document.querySelector("form[data-autosubmit-form]");
  if (rating) { rating.submit(); }
  // "/" focuses the search box, as on many sites.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var box = document.getElementById("q") || document.getElementById("quick-q");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    }
  });
  // On a phone the facets start folded, so the results come first.
  if (window.matchMedia && window.matchMedia("(max-width: 720px)").matches) {
    document.querySelectorAll("details.facets").forEach(function (details) { details.open = false; });
  }
  // An open abstract hides its preview (the <details> element does the opening itself).
  document.querySelectorAll("details.abstract").forEach(function (details) {
    details.addEventListener("toggle", function () {
      details.classList.toggle("open", details.open);
    });
  });
})();
