// The review server's page script: send one action, put the re-rendered sentence and sign-off in place.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var story = document.body.getAttribute("data-story");
  var reviewer = document.getElementById("reviewer");
  if (!story || !reviewer) { return; }
  reviewer.value = localStorage.getItem("pipeline-reviewer") || "";
  reviewer.addEventListener("change", function () { localStorage.setItem("pipeline-reviewer", reviewer.value.trim()); });

  function field(item, name) {
    var el = item ? item.querySelector('[name="' + name + '"]') : null;
    return el ? el.value : "";
  }
  function send(action, item, errorBox) {
    var body = { action: action, reviewer: reviewer.value.trim() };
    if (item) {
      body.key = item.getAttribute("data-key");
      body.reason = field(item, "reason");
      body.fr = field(item, "fr");
      body.en = field(item, "en");
      body.text = field(item, "text");
    }
    if (!body.reviewer) { errorBox.textContent = "Enter your name at the top of the page first."; reviewer.focus(); return; }
    errorBox.textContent = "";
    fetch("/api/" + encodeURIComponent(story), {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": token },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) { errorBox.textContent = result.data.error || "the server refused the request"; return; }
      if (item && result.data.item_html) {
        var holder = document.createElement("ol");
        holder.innerHTML = result.data.item_html;  // rendered by the server with autoescaping
        item.replaceWith(holder.firstElementChild);
      }
      document.getElementById("signoff").innerHTML = result.data.signoff_html;
    }).catch(function (err) { errorBox.textContent = "could not reach the review server: " + err; });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-action]") : null;
    if (!button) { return; }
    var action = button.getAttribute("data-action");
    if (action === "sign_off") {
      var box = document.getElementById("signoff-error");
      if (!box) { box = document.createElement("p"); box.id = "signoff-error"; box.className = "error"; document.getElementById("signoff").after(box); }
      send(action, null, box);
      return;
    }
    var item = button.closest("li.item");
    send(action, item, item.querySelector(".error"));
  });
})();
