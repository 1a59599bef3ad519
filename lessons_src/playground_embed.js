// Embeds one lessons_src playground (lessons_src/playground.py fills in __ELEMENT_ID__
// and __NAME__): waits for BokehJS, draws the layout stored in the page as JSON, runs
// its update callback once and names every slider handle for screen readers.
(function () {
  var id = "__ELEMENT_ID__", tries = 0;
  function handles(node, out) {
    node.querySelectorAll(".noUi-handle").forEach(function (h) { out.push(h); });
    node.querySelectorAll("*").forEach(function (e) {
      if (e.shadowRoot) handles(e.shadowRoot, out);
    });
    return out;
  }
  function label() {
    handles(document.getElementById(id), []).forEach(function (h) {
      var title = h.getRootNode().querySelector(".bk-slider-title");
      var text = title && title.firstChild ? title.firstChild.textContent : "";
      h.setAttribute("aria-label", text.replace(/:\s*$/, "").trim());
    });
  }
  function embed(el) {
    el.dataset.embedded = "1";
    el.textContent = "";
    var item = JSON.parse(document.getElementById(id + "-item").textContent);
    window.Bokeh.embed.embed_item(item, id).then(function (views) {
      var root = views.roots ? views.roots[0] : views[0];
      var doc = root.model.document;
      var update = doc.get_model_by_name("update");
      // For the browser's console (and the book's tests): the playground's Bokeh document.
      (window.KL_PLAYGROUNDS = window.KL_PLAYGROUNDS || {})["__NAME__"] = doc;
      return Promise.resolve(update.execute(update)).then(function () {
        label();
        el.dataset.ready = "1";
      });
    });
  }
  // The website lists its own copy of BokehJS in window.KL_BOKEHJS and loads it, once per
  // page, when a playground comes near the screen; in Jupyter, load_bokehjs() has run.
  function loadBokehJS(urls) {
    if (!window.KL_BOKEHJS_LOADING) {
      window.KL_BOKEHJS_LOADING = urls.reduce(function (done, url) {
        return done.then(function () {
          return new Promise(function (resolve, reject) {
            var s = document.createElement("script");
            s.src = url;
            s.onload = resolve;
            s.onerror = function () { reject(new Error("could not load " + url)); };
            document.head.appendChild(s);
          });
        });
      }, Promise.resolve());
    }
    return window.KL_BOKEHJS_LOADING;
  }
  function start() {
    var el = document.getElementById(id);
    if (!el || el.dataset.embedded) return;
    if (window.Bokeh && window.Bokeh.embed && window.Bokeh.Widgets) {
      embed(el);
    } else if (window.KL_BOKEHJS && "IntersectionObserver" in window) {
      var seen = new IntersectionObserver(function (entries) {
        if (!entries.some(function (e) { return e.isIntersecting; })) return;
        seen.disconnect();
        loadBokehJS(window.KL_BOKEHJS).then(function () { embed(el); }, function (err) {
          el.textContent = "The playground could not load BokehJS: " + err.message + ".";
        });
      }, { rootMargin: "800px 0px" });
      seen.observe(el);
    } else if (++tries < 100) {
      setTimeout(start, 100);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
