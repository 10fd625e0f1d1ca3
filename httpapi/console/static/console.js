// Optional auto-refresh of the status pages: a reload every 10 s while the box is ticked
// (remembered in this browser). No other script runs in the console.
(function () {
  var box = document.getElementById("auto-refresh");
  var every = Number(document.body.dataset.refresh || 0);
  if (!box) return;
  if (!every) { box.parentElement.hidden = true; return; }
  var key = "nebulaio-console-refresh";
  box.checked = localStorage.getItem(key) === "1";
  var timer = null;
  function arm() {
    if (timer) clearTimeout(timer);
    timer = box.checked ? setTimeout(function () { location.reload(); }, every * 1000) : null;
  }
  box.addEventListener("change", function () {
    localStorage.setItem(key, box.checked ? "1" : "0");
    arm();
  });
  arm();
})();
