/* ntklib momentum explorer: exact per-mode dynamics of the linearised methods.
 *
 * Plain JavaScript, no dependencies, no network. One namespace,
 * window.ntklibExplorer; each explorer block <div id="ID"> carries its data in
 * a JSON script element with id "ID-data" (see ntklib/explorer.py) and
 * is started by ntklibExplorer.init("ID").
 *
 * Every method is linear per eigenmode lambda_i of the frozen kernel: the
 * recurrences below are those of ntklib.spectrum / ntklib.optim, written on
 * the mode coordinates d_i = q_i . Delta, and the loss is L_k = 1/2 sum_i d_i^2.
 * The rate per iteration is (L_K / L_0)^(1/K).
 */
(function () {
  "use strict";
  if (window.ntklibExplorer) {
    return; // a second explorer on the page (or a re-run cell) reuses the code
  }

  // -- the methods ------------------------------------------------------------------
  // stableLr(lmax, p): the largest stable step (ntklib.theory), formula: its text,
  // advance(lam, x, s, k, lr, p): one step of every mode, in place (x: the
  // coordinates, s: per-method state arrays). The order of the floating-point
  // operations follows ntklib's Python code.
  var METHODS = {
    gd: {
      params: [],
      formula: "2",
      stableLr: function (lmax) { return 2 / lmax; },
      advance: function (lam, x, s, k, lr) {
        for (var i = 0; i < x.length; i++) { x[i] = (1 - lr * lam[i]) * x[i]; }
      }
    },
    heavy_ball: {
      params: ["momentum"],
      formula: "2(1+β)",
      stableLr: function (lmax, p) { return 2 * (1 + p.momentum) / lmax; },
      advance: function (lam, x, s, k, lr, p) {
        // W_k = (1 - eta H) W_{k-1} + beta (W_{k-1} - W_{k-2})
        var b = p.momentum, prev = s.prev;
        for (var i = 0; i < x.length; i++) {
          var xi = x[i];
          x[i] = (1 - lr * lam[i]) * xi + b * (xi - prev[i]);
          prev[i] = xi;
        }
      }
    },
    nesterov: {
      params: ["gamma"],
      formula: "4/3",
      stableLr: function (lmax) { return 4 / (3 * lmax); },
      advance: function (lam, x, s, k, lr, p) {
        // V_k = (1 - eta H) W_{k-1};  W_k = V_k + (k-1)/(k+gamma-1) (V_k - V_{k-1})
        nesterovStep(lam, x, s.prev, lr, (k - 1) / (k + p.gamma - 1));
      }
    },
    nesterov_sc: {
      params: ["momentum"],
      formula: "2(1+β)/(1+2β)",
      stableLr: function (lmax, p) {
        return 2 * (1 + p.momentum) / ((1 + 2 * p.momentum) * lmax);
      },
      advance: function (lam, x, s, k, lr, p) {
        nesterovStep(lam, x, s.prev, lr, p.momentum);
      }
    },
    two_step_momentum: {
      params: ["momentum", "beta2"],
      formula: "2(1+β₁−β₂), or less for β₂ < 0",
      stableLr: function (lmax, p) {
        var b1 = p.momentum, b2 = p.beta2;
        if (!(Math.abs(b1) < 1 - b2)) { return 0; } // no step size is stable
        var h = 2 * (1 + b1 - b2);
        if (b2 < 0) { h = Math.min(h, (1 + b2) * (1 - b1 - b2) / (-b2)); }
        return h / lmax;
      },
      advance: function (lam, x, s, k, lr, p) {
        // step_k = beta1 step_{k-1} + beta2 step_{k-2} - eta lambda x;  x += step_k
        var b1 = p.momentum, b2 = p.beta2, d1 = s.prev, d2 = s.prev2;
        for (var i = 0; i < x.length; i++) {
          var nw = b1 * d1[i] + b2 * d2[i] - lr * lam[i] * x[i];
          d2[i] = d1[i];
          d1[i] = nw;
          x[i] = x[i] + nw;
        }
      },
      zeroState: true
    },
    quasi_hyperbolic: {
      params: ["momentum", "nu"],
      formula: "2(1+β)/(1+β−2νβ)",
      stableLr: function (lmax, p) {
        var b = p.momentum;
        return 2 * (1 + b) / ((1 + b - 2 * p.nu * b) * lmax);
      },
      advance: function (lam, x, s, k, lr, p) {
        // buf = beta buf + (1 - beta) lambda x;  x -= eta ((1 - nu) lambda x + nu buf)
        var b = p.momentum, nu = p.nu, buf = s.prev;
        for (var i = 0; i < x.length; i++) {
          buf[i] = b * buf[i] + (1 - b) * lam[i] * x[i];
          x[i] = x[i] - lr * ((1 - nu) * lam[i] * x[i] + nu * buf[i]);
        }
      },
      zeroState: true
    }
  };

  function nesterovStep(lam, x, prev, lr, beta) {
    for (var i = 0; i < x.length; i++) {
      var v = (1 - lr * lam[i]) * x[i];
      x[i] = v + beta * (v - prev[i]);
      prev[i] = v;
    }
  }

  /* The losses L_0..L_K of one method: a Float64Array of K+1 values, the final
   * amplitudes and whether the step is stable. Stops early (the rest NaN) once
   * the loss overflows. */
  function simulate(data, key, p) {
    var m = METHODS[key], lam = data.eigenvalues, n = lam.length, K = p.steps;
    var lr = p.lr_fraction * 2 / data.lambda_max;
    var x = Float64Array.from(data.modes);
    var s = {
      prev: m.zeroState ? new Float64Array(n) : Float64Array.from(data.modes),
      prev2: new Float64Array(n)
    };
    var loss = new Float64Array(K + 1).fill(NaN);
    loss[0] = half2(x);
    for (var k = 1; k <= K; k++) {
      m.advance(lam, x, s, k, lr, p);
      loss[k] = half2(x);
      if (!isFinite(loss[k])) { break; }
    }
    var stableLr = m.stableLr(data.lambda_max, p);
    var last = loss[K];
    return {
      loss: loss, lr: lr, stableLr: stableLr, stable: lr < stableLr,
      finalLoss: last, rate: Math.pow(last / loss[0], 1 / K),
      finite: isFinite(last)
    };
  }

  function half2(x) {
    var t = 0;
    for (var i = 0; i < x.length; i++) { t += x[i] * x[i]; }
    return 0.5 * t;
  }

  // -- drawing ----------------------------------------------------------------------
  // The panels are SVG markup strings set as the innerHTML of a <div>: the HTML
  // parser puts <svg> in the SVG namespace, so no namespace URL is needed.
  var COLORS = ["#1f4e99", "#a63d14", "#2e6b30", "#6a1b9a", "#7a5a00", "#37474f"];
  var DASHES = ["", "6 3", "2 3", "8 3 2 3", "4 4", "1 2"];

  function esc(v) {
    return String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;")
      .replace(/"/g, "&quot;");
  }

  function el(tag, attrs, body) {
    var s = "<" + tag;
    for (var a in attrs) {
      if (attrs[a] !== "" && attrs[a] !== undefined) {
        s += " " + a + '="' + esc(attrs[a]) + '"';
      }
    }
    return s + ">" + (body === undefined ? "" : esc(body)) + "</" + tag + ">";
  }

  function text(x, y, str, attrs) {
    return el("text", Object.assign({ x: x, y: y }, attrs || {}), str);
  }

  function points(pts) {
    return pts.map(function (q) { return q[0].toFixed(1) + "," + q[1].toFixed(1); })
      .join(" ");
  }

  function fmt(v, digits) {
    if (!isFinite(v)) { return String(v); }
    return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ?
      String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
  }

  function yLabel(x, y, str) {
    return text(x, y, str, { "text-anchor": "middle", "class": "ntkx-axis",
      transform: "rotate(-90 " + x + " " + y + ")" });
  }

  /* Panel 1: the loss against the iteration, log scale; curves = [{key, loss,
   * color, dash, short}]. Only finite, positive values are drawn. */
  function lossSvg(curves, K, message, label) {
    var W = 420, H = 280, L = 58, R = 12, T = 14, B = 40, out = [];
    var lo = Infinity, hi = -Infinity;
    curves.forEach(function (c) {
      for (var k = 0; k < c.loss.length; k++) {
        var v = c.loss[k];
        if (v > 0 && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      }
    });
    if (!(lo < Infinity)) { lo = 1e-16; hi = 1; }
    // the axis spans at most 1e-300..1e300; values outside are drawn at its edge
    var ylo = Math.max(Math.floor(Math.log10(lo)), -300);
    var yhi = Math.min(Math.ceil(Math.log10(hi)), 300);
    if (yhi <= ylo) { yhi = ylo + 1; }
    var sx = function (k) { return L + (W - L - R) * k / Math.max(K, 1); };
    var sy = function (v) {
      var e = Math.min(Math.max(Math.log10(v), ylo), yhi);
      return T + (H - T - B) * (yhi - e) / (yhi - ylo);
    };
    out.push(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B,
      "class": "ntkx-frame" }));
    var every = Math.max(1, Math.ceil((yhi - ylo) / 8));
    for (var e = ylo; e <= yhi; e += every) {
      var y = sy(Math.pow(10, e)).toFixed(1);
      out.push(el("line", { x1: L, x2: W - R, y1: y, y2: y, "class": "ntkx-grid" }));
      out.push(text(L - 6, +y + 4, "1e" + e, { "text-anchor": "end",
        "class": "ntkx-tick" }));
    }
    for (var j = 0; j <= 4; j++) {
      var kk = Math.round(K * j / 4);
      out.push(text(sx(kk).toFixed(1), H - B + 16, String(kk),
        { "text-anchor": "middle", "class": "ntkx-tick" }));
    }
    out.push(text((L + W - R) / 2, H - 6, "iteration k", { "text-anchor": "middle",
      "class": "ntkx-axis" }));
    out.push(yLabel(14, (T + H - B) / 2, "loss L_k (log scale)"));
    curves.forEach(function (c, ci) {
      var d = [], pen = "M";
      for (var k = 0; k < c.loss.length; k++) {
        var v = c.loss[k];
        if (!(v > 0 && isFinite(v))) { pen = "M"; continue; }
        d.push(pen + sx(k).toFixed(2) + "," + sy(v).toFixed(2));
        pen = "L";
      }
      if (d.length) {
        out.push(el("path", { d: d.join(""), fill: "none", stroke: c.color,
          "stroke-width": ci === 0 ? 2.2 : 1.5, "stroke-dasharray": c.dash,
          "class": "ntkx-curve", "data-method": c.key }));
      }
    });
    if (curves.length > 1) { // legend
      curves.forEach(function (c, ci) {
        var y = T + 14 + 15 * ci;
        out.push(el("rect", { x: W - R - 124, y: y - 11, width: 122, height: 15,
          "class": "ntkx-legend-bg" }));
        out.push(el("line", { x1: W - R - 120, x2: W - R - 98, y1: y - 4, y2: y - 4,
          stroke: c.color, "stroke-width": 2, "stroke-dasharray": c.dash }));
        out.push(text(W - R - 94, y, c.short, { "class": "ntkx-tick" }));
      });
    }
    if (message) {
      out.push(text((L + W - R) / 2, T + 22, message, { "text-anchor": "middle",
        "class": "ntkx-warn" }));
    }
    return el("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": label, "class": "ntkx-loss" }).replace("></svg>",
      ">" + out.join("") + "</svg>");
  }

  /* Panel 2: the stable region of the method in (eta lambda_max, beta) at the other
   * settings, and the current point (NAG: its momenta beta_1..beta_K). */
  function regionSvg(data, key, p, sim, label) {
    var W = 300, H = 280, L = 48, R = 12, T = 14, B = 40, XMAX = 4, out = [];
    var sx = function (v) { return L + (W - L - R) * Math.min(v, XMAX) / XMAX; };
    var sy = function (b) { return T + (H - T - B) * (1 - b); };
    var lmax = data.lambda_max, regionKey = key;
    if (key === "gd") { regionKey = "heavy_ball"; } // GD is heavy ball at beta = 0
    if (key === "nesterov") { regionKey = "nesterov_sc"; } // with beta_k -> 1
    var m = METHODS[regionKey], pts = [], N = 120;
    for (var i = 0; i <= N; i++) {
      var b = 0.999 * i / N, q = Object.assign({}, p, { momentum: b });
      pts.push([sx(m.stableLr(lmax, q) * lmax), sy(b)]);
    }
    var poly = [[sx(0), sy(0.999)]].concat(pts.slice().reverse(), [[sx(0), sy(0)]]);
    out.push(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B,
      "class": "ntkx-frame" }));
    out.push(el("polygon", { points: points(poly), "class": "ntkx-region" }));
    out.push(el("polyline", { points: points(pts), "class": "ntkx-boundary" }));
    for (var t = 0; t <= XMAX; t++) {
      out.push(text(sx(t), H - B + 16, String(t), { "text-anchor": "middle",
        "class": "ntkx-tick" }));
    }
    [0, 0.5, 1].forEach(function (b) {
      out.push(text(L - 6, sy(b) + 4, String(b), { "text-anchor": "end",
        "class": "ntkx-tick" }));
    });
    out.push(text((L + W - R) / 2, H - 6, "step η·λmax", { "text-anchor": "middle",
      "class": "ntkx-axis" }));
    out.push(yLabel(14, (T + H - B) / 2,
      key === "two_step_momentum" ? "momentum β₁" : "momentum β"));
    out.push(text(sx(0.15), T + 16, "stable", { "class": "ntkx-tick" }));
    var x = sim.lr * lmax, beta = key === "gd" ? 0 : p.momentum;
    if (key === "nesterov") { // the momenta (k-1)/(k+gamma-1), k = 1..K
      beta = (p.steps - 1) / (p.steps + p.gamma - 1);
      out.push(el("line", { x1: sx(x), x2: sx(x), y1: sy(0), y2: sy(beta),
        "class": "ntkx-path" }));
    }
    out.push(el("circle", { cx: sx(x).toFixed(1), cy: sy(beta).toFixed(1), r: 5,
      "class": sim.stable ? "ntkx-point" : "ntkx-point ntkx-bad" }));
    return el("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": label, "class": "ntkx-region-panel" }).replace("></svg>",
      ">" + out.join("") + "</svg>");
  }

  // -- controls ---------------------------------------------------------------------
  function labelled(box, id, label, input, help) {
    var wrap = document.createElement("div");
    wrap.className = "ntkx-control";
    var lab = document.createElement("label");
    lab.htmlFor = id;
    lab.textContent = label;
    input.id = id;
    wrap.appendChild(lab);
    wrap.appendChild(input);
    if (help) { wrap.appendChild(help); }
    box.appendChild(wrap);
    return wrap;
  }

  /* A slider and a number box for one setting, kept in sync. */
  function slider(box, id, label, min, max, step, value) {
    var r = document.createElement("input");
    r.type = "range"; r.min = min; r.max = max; r.step = step; r.value = value;
    var num = document.createElement("input");
    num.type = "number"; num.min = min; num.max = max; num.step = "any";
    num.value = value; num.className = "ntkx-num"; num.id = id + "-num";
    var numLab = document.createElement("label");
    numLab.htmlFor = num.id; numLab.className = "ntkx-sr";
    numLab.textContent = label + " (exact value)";
    var extra = document.createElement("span");
    extra.appendChild(numLab); extra.appendChild(num);
    var wrap = labelled(box, id, label, r, extra);
    var state = { value: Number(value), wrap: wrap, range: r, num: num };
    r.addEventListener("input", function () {
      state.value = Number(r.value); num.value = r.value; state.onchange();
    });
    num.addEventListener("input", function () {
      var v = Number(num.value);
      if (num.value === "" || !isFinite(v) || v < min || v > max) {
        num.setAttribute("aria-invalid", "true");
        return;
      }
      num.removeAttribute("aria-invalid");
      state.value = v; r.value = v; state.onchange();
    });
    return state;
  }

  var SHORT = { gd: "GD", heavy_ball: "HB", nesterov: "NAG", nesterov_sc: "NAG-SC",
    two_step_momentum: "two-step", quasi_hyperbolic: "QHM" };
  var NAMES = { gd: "gradient descent", heavy_ball: "heavy ball",
    nesterov: "NAG", nesterov_sc: "NAG-SC", two_step_momentum: "two-step momentum",
    quasi_hyperbolic: "QHM" };

  function Explorer(root, data) {
    this.root = root;
    this.data = data;
    var self = this, id = root.id, d = data.defaults;
    var box = document.createElement("div");
    box.className = "ntkx-controls";
    var title = document.createElement("p");
    title.className = "ntkx-title";
    title.id = id + "-title";
    title.textContent = "Explorer: exact linearised dynamics on this kernel (" +
      data.n + " modes, λmin = " + fmt(data.lambda_min, 4) + ", λmax = " +
      fmt(data.lambda_max, 4) + ")";
    root.setAttribute("role", "group");
    root.setAttribute("aria-labelledby", title.id);
    root.appendChild(title);
    root.appendChild(box);

    var sel = document.createElement("select");
    data.methods.forEach(function (m) {
      var o = document.createElement("option");
      o.value = m.key; o.textContent = m.label;
      sel.appendChild(o);
    });
    sel.value = d.method;
    labelled(box, id + "-method", "Method", sel);
    var range = data.ranges.lr_fraction;
    this.controls = {
      lr_fraction: slider(box, id + "-lr", "step size η, in units of 2/λmax",
        range[0], range[1], range[2], d.lr_fraction),
      momentum: slider(box, id + "-momentum", "momentum β", 0, 0.99, 0.01,
        d.momentum),
      beta2: slider(box, id + "-beta2", "second momentum β₂", -0.9, 0.9, 0.01,
        d.beta2),
      nu: slider(box, id + "-nu", "QHM weight ν", 0, 1, 0.05, d.nu),
      gamma: slider(box, id + "-gamma", "NAG γ, momentum (k−1)/(k+γ−1)", 0.5, 20,
        0.5, d.gamma),
      steps: slider(box, id + "-steps", "iterations K", 1, 2000, 1, d.steps)
    };
    this.controls.steps.num.step = 1;
    var cmp = document.createElement("input");
    cmp.type = "checkbox"; cmp.checked = !!data.compare;
    var cw = labelled(box, id + "-compare", "show the other methods at these settings",
      cmp);
    cw.className += " ntkx-check";
    this.method = sel;
    this.compare = cmp;

    var figs = document.createElement("div");
    figs.className = "ntkx-figs";
    root.appendChild(figs);
    this.lossBox = document.createElement("div");
    this.regionBox = document.createElement("div");
    this.lossBox.className = "ntkx-panel";
    this.regionBox.className = "ntkx-panel ntkx-panel-region";
    figs.appendChild(this.lossBox);
    figs.appendChild(this.regionBox);
    this.readout = document.createElement("output");
    this.readout.className = "ntkx-readout";
    this.readout.id = id + "-readout";
    this.readout.setAttribute("aria-live", "polite");
    root.appendChild(this.readout);

    Object.keys(this.controls).forEach(function (k) {
      self.controls[k].onchange = function () { self.update(); };
    });
    sel.addEventListener("change", function () { self.update(); });
    cmp.addEventListener("change", function () { self.update(); });
    this.update();
  }

  Explorer.prototype.params = function () {
    var p = { method: this.method.value };
    for (var k in this.controls) { p[k] = this.controls[k].value; }
    p.steps = Math.max(1, Math.round(p.steps));
    return p;
  };

  /* Recompute and redraw; returns the time it took in milliseconds. */
  Explorer.prototype.update = function () {
    var t0 = performance.now();
    var data = this.data, p = this.params(), key = p.method;
    var used = METHODS[key].params;
    for (var c in this.controls) {
      var show = c === "lr_fraction" || c === "steps" || used.indexOf(c) >= 0;
      this.controls[c].wrap.hidden = !show;
    }
    this.controls.momentum.wrap.querySelector("label").textContent =
      key === "two_step_momentum" ? "first momentum β₁" : "momentum β";
    var sim = simulate(data, key, p), curves = [];
    var keys = [key];
    if (this.compare.checked) {
      data.methods.forEach(function (m) { if (m.key !== key) { keys.push(m.key); } });
    }
    keys.forEach(function (k, i) {
      var s = i === 0 ? sim : simulate(data, k, p);
      curves.push({ key: k, loss: s.loss, color: COLORS[i % 6], dash: DASHES[i % 6],
        short: SHORT[k] + (s.stable ? "" : " (diverges)") });
    });
    var diverges = !sim.stable || !sim.finite;
    var x = sim.lr * data.lambda_max, xs = sim.stableLr * data.lambda_max;
    var msg = "", out = this.readout;
    if (diverges) {
      msg = xs > 0 ?
        "diverges: the step η·λmax = " + fmt(x, 4) + " exceeds the stable step " +
        METHODS[key].formula + " = " + fmt(xs, 4) + " for " + NAMES[key] :
        "diverges: no step size is stable for these momenta (need |β₁| < 1 − β₂)";
      if (sim.stable) { msg = "diverges: the loss overflows"; }
    }
    this.lossBox.innerHTML = lossSvg(curves, p.steps, diverges ? "diverges" : "",
      "loss against iteration, " + NAMES[key] +
      (diverges ? ": diverges" : ": final loss " + fmt(sim.finalLoss, 4)));
    this.regionBox.innerHTML = regionSvg(data, key, p, sim, "stable region of " +
      NAMES[key] + " in step and momentum; the current point is " +
      (sim.stable ? "inside" : "outside"));
    out.dataset.status = diverges ? "diverges" : "converges";
    out.dataset.finalLoss = String(sim.finalLoss);
    out.dataset.rate = String(sim.rate);
    out.dataset.lr = String(sim.lr);
    out.dataset.method = key;
    var fric = (1 - p.momentum) / (Math.sqrt(sim.lr) * 2 * Math.sqrt(data.lambda_min));
    var extra = key === "heavy_ball" ?
      "; friction b = (1−β)/√η = " + fmt(fric, 3) + " × critical 2√λmin" : "";
    out.className = "ntkx-readout" + (diverges ? " ntkx-diverges" : "");
    out.textContent = diverges ? msg :
      NAMES[key] + ": η = " + fmt(sim.lr, 4) + " (η·λmax = " + fmt(x, 4) +
      ", stable below " + fmt(xs, 4) + "); after K = " + p.steps +
      " iterations L_K = " + fmt(sim.finalLoss, 6) + ", L_K/L_0 = " +
      fmt(sim.finalLoss / sim.loss[0], 4) + ", rate (L_K/L_0)^(1/K) = " +
      fmt(sim.rate, 6) + " per iteration" + extra;
    this.lastUpdateMs = performance.now() - t0;
    return this.lastUpdateMs;
  };

  var instances = {};

  window.ntklibExplorer = {
    version: 1,
    instances: instances,
    methods: METHODS,
    simulate: simulate,
    /* Start the explorer in <div id=id>; a second call for the same id is ignored. */
    init: function (id) {
      var root = document.getElementById(id);
      if (!root || instances[id]) { return instances[id]; }
      var data = JSON.parse(document.getElementById(id + "-data").textContent);
      instances[id] = new Explorer(root, data);
      return instances[id];
    }
  };
})();
