(function () {
  var root = document.documentElement;
  function applyFilters() {
    var verdict = document.getElementById("filter-verdict").value;
    var area = document.getElementById("filter-area").value;
    var shown = 0;
    document.querySelectorAll("tbody.req").forEach(function (body) {
      var ok = (!verdict || body.dataset.verdict === verdict) && (!area || body.dataset.area === area);
      body.hidden = !ok;
      if (ok) shown += 1;
    });
    document.getElementById("shown-count").textContent = String(shown);
  }
  function setLang(lang) {
    root.lang = lang;
    document.querySelectorAll("option[data-ru]").forEach(function (opt) {
      opt.textContent = opt.getAttribute("data-" + lang);
    });
  }
  document.getElementById("filter-verdict").addEventListener("change", applyFilters);
  document.getElementById("filter-area").addEventListener("change", applyFilters);
  document.getElementById("lang-switch").addEventListener("click", function () {
    setLang(root.lang === "ru" ? "en" : "ru");
  });
  document.querySelectorAll("button.toggle").forEach(function (button) {
    button.addEventListener("click", function () {
      var row = document.getElementById(button.getAttribute("aria-controls"));
      row.hidden = !row.hidden;
      button.setAttribute("aria-expanded", String(!row.hidden));
      button.textContent = row.hidden ? "\u25B8" : "\u25BE";
    });
  });
  // a link to an exchange or a test inside a closed requirement: open what holds it
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (!target) return;
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") el.open = true;
      if (el.tagName === "TBODY" && el.hidden) el.hidden = false;
      if (el.classList && el.classList.contains("detail") && el.hidden) {
        el.hidden = false;
        var button = document.querySelector('button[aria-controls="' + el.id + '"]');
        if (button) { button.setAttribute("aria-expanded", "true"); button.textContent = "\u25BE"; }
      }
    }
    target.scrollIntoView({block: "center"});
  }
  window.addEventListener("hashchange", reveal);
  setLang(root.lang);
  applyFilters();
  reveal();
})();
