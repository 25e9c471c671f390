(function () {
  "use strict";
  var placeholder = document.getElementById("evidence-placeholder");
  // each distinct paragraph text is on the page once (#texts); a slot shows a copy, its sentences marked
  function fill(root) {
    root.querySelectorAll(".slot").forEach(function (slot) {
      var source = slot.firstElementChild ? null : document.getElementById(slot.dataset.text);
      if (!source) { return; }
      var copy = source.cloneNode(true);
      copy.removeAttribute("id");
      var marks = slot.dataset.marks.split(" ");
      copy.querySelectorAll("span.s").forEach(function (s) {
        if (marks.indexOf(s.dataset.k) < 0) { return; }
        var mark = document.createElement("mark");
        mark.textContent = s.textContent;
        s.replaceWith(mark);
      });
      slot.appendChild(copy);
    });
  }
  function show(id) {
    var target = document.getElementById(id);
    if (!target || !target.classList.contains("evidence")) { return false; }
    document.querySelectorAll("section.evidence.shown").forEach(function (s) { s.classList.remove("shown"); });
    document.querySelectorAll("a.cite.active").forEach(function (a) { a.classList.remove("active"); });
    // the duplicates are one block per page, shared by the citations into the same groups: move it here
    var block = target.dataset.block ? document.getElementById(target.dataset.block) : null;
    if (block && block.parentNode !== target) { target.appendChild(block); }
    fill(target);
    target.classList.add("shown");
    document.querySelectorAll('a.cite[href="#' + id + '"]').forEach(function (a) { a.classList.add("active"); });
    if (placeholder) { placeholder.hidden = true; }
    return true;
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.cite") : null;
    if (!link) { return; }
    var id = link.getAttribute("href").slice(1);
    if (show(id)) {
      event.preventDefault();
      history.replaceState(null, "", "#" + id);
      var panel = document.getElementById("evidence");
      if (panel && panel.getBoundingClientRect().top > window.innerHeight) { panel.scrollIntoView(); }
    }
  });
  if (location.hash.length > 1) { show(location.hash.slice(1)); }
})();
