/* ntklib momentum explorer: exact per-mode dynamics of the linearised methods.
 *
 * Plain JavaScript, no dependencies, no network. One namespace,
 * window.ntklibExplorer; each explorer block <div id="ID"> carries its data in
 * a JSON script element with id "ID-data" (see ntklib/explorer.py) and
 * is started by ntklibExplorer.init("ID").
 *
 * Every method is linear per eigenmode lambda_i of the frozen kernel. Its
 * record in ntklib.methods gives its characteristic polynomial
 * p_k(z) = q_k(z) + h r_k(z), h = eta lambda_i, as expressions in its
 * parameters and the step k; the page evaluates them as ntklib does and runs
 * ONE recurrence for every method, from rest (the past iterates equal d_0 in
 * q, no gradient before step 0):  d_k = -sum_m (q_m + h r_m) d_{k-m}.
 * The loss is L_k = 1/2 sum_i d_i^2. The stable step and the spectral radius
 * come from the same polynomials: the first h at which a Schur-Cohn test
 * fails, bisected; the largest root modulus in closed form, as ntklib.theory.
 */
(function () {
  "use strict";
  if (window.ntklibExplorer) {
    return; // a second explorer on the page (or a re-run cell) reuses the code
  }

  // -- the methods: coefficient tables compiled once ------------------------------
  var GRAMMAR = /^[\w\s.+\-*\/()\[\]]*$/; // what ntklib.methods allows

  function compile(m) {
    function build(lets) {
      var exprs = lets.map(function (l) { return l[1]; }).concat(m.q, m.r);
      exprs.forEach(function (e) {
        if (!GRAMMAR.test(e)) { throw new Error("bad coefficient " + e); }
      });
      var body = lets.map(function (l) {
        return "var " + l[0] + " = (" + l[1] + ");";
      }).join("") + "return [[" + m.q.join(",") + "], [" + m.r.join(",") + "]];";
      var fn = Function.apply(null, m.params.concat(["k", body]));
      return function (p, k) {
        return fn.apply(null, m.params.map(function (n) { return p[n]; })
          .concat([k]));
      };
    }
    var limit = m.let.map(function (l) {
      return [l[0], m.limit[l[0]] !== undefined ? m.limit[l[0]] : l[1]];
    });
    return { at: build(m.let), limit: build(limit) };
  }

  /* Coefficients c_j = q_j + h r_j, highest degree first. */
  function poly(qr, h) {
    return qr[0].map(function (qj, j) { return qj + h * qr[1][j]; });
  }

  var WORK = [new Float64Array(16), new Float64Array(16)];

  /* Schur-Cohn: every root of the real polynomial c strictly inside |z| = 1
   * (ntklib.theory.schur_stable). In place, in two work buffers. */
  function schurStable(c) {
    var p = WORK[0], t = WORK[1], len = c.length;
    for (var i = 0; i < len; i++) { p[i] = c[i]; }
    for (; len > 1; len--) {
      var an = p[0], a0 = p[len - 1];
      if (!(Math.abs(a0) < Math.abs(an))) { return false; }
      for (var j = 0; j < len - 1; j++) { t[j] = an * p[j] - a0 * p[len - 1 - j]; }
      var swap = p; p = t; t = swap;
    }
    return true;
  }

  /* The first h > 0 at which q + h r leaves the unit disc (Infinity if none; 0
   * if no h > 0 is stable): a scan doubling h, then bisection. */
  function stableH(qr) {
    var q = qr[0], r = qr[1], c = new Float64Array(q.length);
    var ok = function (h) {
      for (var j = 0; j < q.length; j++) { c[j] = q[j] + h * r[j]; }
      return schurStable(c);
    };
    var lo = 1e-6, hi = lo;
    if (!ok(lo)) { return 0; }
    while (ok(hi)) {
      lo = hi; hi *= 2;
      if (hi > 1e7) { return Infinity; }
    }
    for (var i = 0; i < 56; i++) {
      var mid = 0.5 * (lo + hi);
      if (ok(mid)) { lo = mid; } else { hi = mid; }
    }
    return lo;
  }

  /* Largest root modulus of the real polynomial c: the closed forms of
   * ntklib.theory.polynomial_spectral_radius for degrees 1 to 3 (the quadratic
   * formula, Cardano, in the same steps), else the smallest r with c(r z) Schur
   * stable. Complex numbers are pairs of reals: no allocation per call. */
  function radius(c) {
    var N = c.length - 1, m = [];
    for (var mm = 0; mm <= N; mm++) { m.push(c[mm] / c[0]); }
    if (N === 1) { return Math.abs(m[1]); }
    if (N === 2) { // |-b/2 +- sqrt(b^2/4 - d)|
      var b = m[1], d = m[2], disc = b * b / 4 - d;
      if (disc < 0) { return Math.hypot(-b / 2, Math.sqrt(-disc)); }
      return Math.max(Math.abs(-b / 2 + Math.sqrt(disc)),
        Math.abs(-b / 2 - Math.sqrt(disc)));
    }
    if (N === 3) { // Cardano: roots t - a/3, t = u_k - p/(3 u_k)
      var a = m[1], bb = m[2], dd = m[3];
      var p = bb - a * a / 3, q = 2 * Math.pow(a, 3) / 27 - a * bb / 3 + dd;
      var D = q * q / 4 + Math.pow(p, 3) / 27;
      var sr = D >= 0 ? Math.sqrt(D) : 0, si = D >= 0 ? 0 : Math.sqrt(-D);
      if (Math.hypot(-q / 2 + sr, si) < Math.hypot(-q / 2 - sr, -si)) {
        sr = -sr; si = -si;
      }
      var zr = -q / 2 + sr, zi = si, zm = Math.hypot(zr, zi), out = 0;
      var ang = Math.atan2(zi, zr) / 3, um = Math.pow(zm, 1 / 3);
      for (var k = 0; k < 3; k++) {
        var th = ang + 2 * Math.PI * k / 3, ur = um * Math.cos(th), ui = um * Math.sin(th);
        var tr = 0, ti = 0, u2 = ur * ur + ui * ui;
        if (Math.sqrt(u2) > 1e-300) { // u - p / (3 u)
          tr = ur - p * ur / (3 * u2); ti = ui + p * ui / (3 * u2);
        }
        out = Math.max(out, Math.hypot(tr - a / 3, ti));
      }
      return out;
    }
    var hi = 1;
    for (var j = 1; j <= N; j++) { hi = Math.max(hi, 1 + Math.abs(m[j])); }
    var lo = 0;
    for (var i = 0; i < 60; i++) {
      var r = 0.5 * (lo + hi), s = [], f = 1;
      for (var jj = 0; jj <= N; jj++) { s.push(m[jj] / f); f *= r; }
      if (schurStable(s)) { hi = r; } else { lo = r; }
    }
    return hi;
  }

  function half2(x) {
    var t = 0;
    for (var i = 0; i < x.length; i++) { t += x[i] * x[i]; }
    return 0.5 * t;
  }

  /* One step of every mode: x_i = sum_j (-q_j - r_j h_i) P_{j-1}[i] over the
   * terms j of ``used`` (the non-zero ones), added in order as ntklib does. x is
   * the oldest P: each i is read before it is written. Unrolled for up to three
   * terms, the degrees of the book's methods. */
  function stepModes(x, q, r, h, P, used) {
    var n = x.length, i, t, s, u = used.length;
    var a = used.map(function (j) { return -q[j]; });
    var b = used.map(function (j) { return r[j]; });
    var p = used.map(function (j) { return P[j - 1]; });
    if (u === 1) {
      for (i = 0; i < n; i++) { x[i] = (a[0] - b[0] * h[i]) * p[0][i]; }
    } else if (u === 2) {
      var p0 = p[0], p1 = p[1], a0 = a[0], a1 = a[1], b0 = b[0], b1 = b[1];
      for (i = 0; i < n; i++) {
        x[i] = (a0 - b0 * h[i]) * p0[i] + (a1 - b1 * h[i]) * p1[i];
      }
    } else if (u === 3) {
      var r0 = p[0], r1 = p[1], r2 = p[2], c0 = a[0], c1 = a[1], c2 = a[2];
      var e0 = b[0], e1 = b[1], e2 = b[2];
      for (i = 0; i < n; i++) {
        x[i] = (c0 - e0 * h[i]) * r0[i] + (c1 - e1 * h[i]) * r1[i] +
          (c2 - e2 * h[i]) * r2[i];
      }
    } else {
      for (i = 0; i < n; i++) {
        for (s = 0, t = 0; t < u; t++) { s += (a[t] - b[t] * h[i]) * p[t][i]; }
        x[i] = s;
      }
    }
  }

  /* The losses L_0..L_K of one method (a Float64Array of K+1 values, NaN after an
   * overflow), its stable step, the spectral radius rho and the measured rate. */
  function simulate(data, key, p) {
    var m = data.byKey[key], lam = data.eigenvalues, n = lam.length;
    var K = p.steps, lr = p.lr_fraction * 2 / data.lambda_max;
    var h = Float64Array.from(lam, function (l) { return lr * l; });
    var qr = m.coef.at(p, 1), N = qr[0].length - 1, past = [], used = [];
    for (var j = 0; j < N; j++) { past.push(Float64Array.from(data.modes)); }
    var loss = new Float64Array(K + 1).fill(NaN);
    loss[0] = half2(past[0]);
    for (var k = 1; k <= K; k++) { // past[j] = d_{k-1-j}
      if (m.varying && k > 1) { qr = m.coef.at(p, k); }
      var q = qr[0], r = qr[1], x = past[N - 1], i, jj, s;
      if (k < N) { // from rest: before step 0 no gradient (the r part sees 0)
        for (i = 0; i < n; i++) {
          s = 0;
          for (jj = 1; jj <= N; jj++) {
            var seen = jj <= k ? past[jj - 1][i] : 0;
            s += -q[jj] * past[jj - 1][i] - (r[jj] * h[i]) * seen;
          }
          x[i] = s;
        }
      } else {
        if (k === N || m.varying) {
          used = [];
          for (jj = 1; jj <= N; jj++) { if (q[jj] || r[jj]) { used.push(jj); } }
        }
        stepModes(x, q, r, h, past, used);
      }
      past.pop(); past.unshift(x);
      loss[k] = half2(x);
      if (!isFinite(loss[k])) { break; }
    }
    var limit = m.coef.limit(p, Infinity);
    var hStar = stableH(limit), stableLr = hStar / data.lambda_max;
    var at = m.varying ? m.coef.at(p, K) : limit, rho = 0;
    for (var ii = 0; ii < n; ii++) { rho = Math.max(rho, radius(poly(at, h[ii]))); }
    var last = loss[K];
    return {
      loss: loss, lr: lr, stableLr: stableLr, hStar: hStar, stable: lr < stableLr,
      finalLoss: last, rate: Math.pow(last / loss[0], 1 / (2 * K)), rho: rho,
      finite: isFinite(last)
    };
  }

  /* The top of the step slider, in units of 2/lambda_max: a fifth past the stable
   * step (ntklib.explorer.lr_fraction_max). */
  function lrFractionMax(range, hStar) {
    if (!isFinite(hStar)) { return range[1]; }
    var top = Math.ceil(+(1.2 * hStar / 2 / range[2]).toFixed(9)) * range[2];
    return Math.max(range[1], +top.toFixed(9));
  }

  // -- drawing ----------------------------------------------------------------------
  // The panels are SVG markup strings set as the innerHTML of a <div>: the HTML
  // parser puts <svg> in the SVG namespace, so no namespace URL is needed.
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
    if (v === 0) { return "0"; }
    return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ?
      String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
  }

  function yLabel(x, y, str) {
    return text(x, y, str, { "text-anchor": "middle", "class": "ntkx-axis",
      transform: "rotate(-90 " + x + " " + y + ")" });
  }

  function svg(W, H, label, cls, out) {
    return el("svg", { viewBox: "0 0 " + W + " " + H, role: "img",
      "aria-label": label, "class": cls }).replace("></svg>",
      ">" + out.join("") + "</svg>");
  }

  /* Panel 1: the loss against the iteration, log scale; curves = [{key, loss,
   * color, dash, short, stable}]. Only finite, positive values are drawn. With
   * several curves the axis is capped at the converging ones (and L_0), so that
   * one diverging method does not flatten the others; it leaves the frame. */
  function lossSvg(curves, K, message, label) {
    var W = 420, H = 280, L = 58, R = 12, T = 14, B = 40, out = [];
    var lo = Infinity, hi = -Infinity, capped = curves.length > 1 &&
      curves.some(function (c) { return c.stable; });
    curves.forEach(function (c) {
      for (var k = 0; k < c.loss.length; k++) {
        var v = c.loss[k];
        if (!(v > 0 && isFinite(v))) { continue; }
        lo = Math.min(lo, v);
        if (!capped || c.stable || k === 0) { hi = Math.max(hi, v); }
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
    var top = Math.pow(10, yhi);
    curves.forEach(function (c, ci) {
      var d = [], pen = "M";
      for (var k = 0; k < c.loss.length; k++) {
        var v = c.loss[k];
        if (!(v > 0 && isFinite(v))) { pen = "M"; continue; }
        d.push(pen + sx(k).toFixed(2) + "," + sy(v).toFixed(2));
        pen = "L";
        if (v > top) { break; } // it left the capped frame
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
        out.push(el("rect", { x: W - R - 134, y: y - 11, width: 132, height: 15,
          "class": "ntkx-legend-bg" }));
        out.push(el("line", { x1: W - R - 130, x2: W - R - 108, y1: y - 4, y2: y - 4,
          stroke: c.color, "stroke-width": 2, "stroke-dasharray": c.dash }));
        out.push(text(W - R - 104, y, c.short, { "class": "ntkx-tick" }));
      });
    }
    if (message) {
      out.push(text((L + W - R) / 2, T + 22, message, { "text-anchor": "middle",
        "class": "ntkx-warn" }));
    }
    return svg(W, H, label, "ntkx-loss", out);
  }

  var REGIONS = {}; // stable boundaries already computed

  /* Panel 2: the stable region of the method in the plane of the step
   * eta lambda_max and its first parameter (the others fixed), from the same
   * polynomials; the current point. A method without parameters: a band. */
  function regionSvg(data, m, p, sim, label) {
    var W = 300, H = 280, L = 48, R = 12, T = 14, B = 40, out = [];
    var lmax = data.lambda_max, x = sim.lr * lmax;
    var axis = m.params.length ? data.controls[m.params[0]] : null;
    var yr = axis ? axis.ranges[0] : [0, 1, 1];
    var get = function (q) {
      return axis ? (axis.tuple ? q[m.params[0]][0] : q[m.params[0]]) : 0.5;
    };
    var set = function (q, v) {
      var c = Object.assign({}, q);
      if (axis && axis.tuple) { c[m.params[0]] = [v].concat(q[m.params[0]].slice(1)); }
      else if (axis) { c[m.params[0]] = v; }
      return c;
    };
    // the boundary depends on the method and its other parameters only: cached
    var probe = set(p, 0), tag = m.key + JSON.stringify(m.params.map(function (n) {
      return probe[n];
    }));
    var bound = REGIONS[tag];
    if (!bound) {
      if (Object.keys(REGIONS).length > 200) { REGIONS = {}; }
      bound = REGIONS[tag] = [];
      for (var i = 0; i <= 80; i++) {
        var v = yr[0] + (yr[1] - yr[0]) * i / 80;
        bound.push([v, stableH(m.coef.limit(set(p, v), Infinity))]);
      }
    }
    var XMAX = 4;
    bound.forEach(function (b) { if (isFinite(b[1])) { XMAX = Math.max(XMAX, b[1]); } });
    XMAX = Math.ceil(Math.min(Math.max(XMAX, 1.25 * x), 1e4));
    var sx = function (v) { return L + (W - L - R) * Math.min(v, XMAX) / XMAX; };
    var sy = function (v) { return T + (H - T - B) * (yr[1] - v) / (yr[1] - yr[0]); };
    var pts = bound.map(function (b) { return [sx(b[1]), sy(b[0])]; });
    var poly = [[sx(0), sy(yr[1])]].concat(pts.slice().reverse(), [[sx(0), sy(yr[0])]]);
    out.push(el("rect", { x: L, y: T, width: W - L - R, height: H - T - B,
      "class": "ntkx-frame" }));
    out.push(el("polygon", { points: points(poly), "class": "ntkx-region" }));
    out.push(el("polyline", { points: points(pts), "class": "ntkx-boundary" }));
    for (var t = 0; t <= 4; t++) {
      out.push(text(sx(XMAX * t / 4), H - B + 16, fmt(XMAX * t / 4, 3),
        { "text-anchor": "middle", "class": "ntkx-tick" }));
    }
    if (axis) {
      [yr[0], (yr[0] + yr[1]) / 2, yr[1]].forEach(function (v) {
        out.push(text(L - 6, sy(v) + 4, fmt(v, 3), { "text-anchor": "end",
          "class": "ntkx-tick" }));
      });
    }
    out.push(text((L + W - R) / 2, H - 6, "step η·λmax", { "text-anchor": "middle",
      "class": "ntkx-axis" }));
    out.push(yLabel(14, (T + H - B) / 2, axis ? axis.labels[0] : "(no parameter)"));
    out.push(text(sx(0.15), T + 16, "stable", { "class": "ntkx-tick" }));
    out.push(el("circle", { cx: sx(x).toFixed(1), cy: sy(get(p)).toFixed(1), r: 5,
      "class": sim.stable ? "ntkx-point" : "ntkx-point ntkx-bad" }));
    return svg(W, H, label, "ntkx-region-panel", out);
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

  /* A slider and a number box for one setting, kept in sync; a typed value outside
   * the range is refused with a visible message. */
  function slider(box, id, label, range, value) {
    var r = document.createElement("input");
    r.type = "range"; r.min = range[0]; r.max = range[1]; r.step = range[2];
    r.value = value;
    var num = document.createElement("input");
    num.type = "number"; num.min = range[0]; num.max = range[1]; num.step = "any";
    num.value = value; num.className = "ntkx-num"; num.id = id + "-num";
    var numLab = document.createElement("label");
    numLab.htmlFor = num.id; numLab.className = "ntkx-sr";
    numLab.textContent = label + " (exact value)";
    var err = document.createElement("span");
    err.className = "ntkx-error"; err.id = id + "-error"; err.hidden = true;
    err.setAttribute("role", "alert");
    num.setAttribute("aria-describedby", err.id);
    var extra = document.createElement("span");
    extra.appendChild(numLab); extra.appendChild(num); extra.appendChild(err);
    var wrap = labelled(box, id, label, r, extra);
    var state = { value: Number(value), wrap: wrap, range: r, num: num, error: err };
    r.addEventListener("input", function () {
      state.value = Number(r.value); num.value = r.value;
      num.removeAttribute("aria-invalid"); err.hidden = true;
      state.onchange();
    });
    num.addEventListener("input", function () {
      var v = Number(num.value), lo = Number(r.min), hi = Number(r.max);
      if (num.value === "" || !isFinite(v) || v < lo || v > hi) {
        num.setAttribute("aria-invalid", "true");
        err.textContent = "not used: enter a number from " + fmt(lo, 4) + " to " +
          fmt(hi, 4);
        err.hidden = false;
        return;
      }
      num.removeAttribute("aria-invalid"); err.hidden = true;
      state.value = v; r.value = v; state.onchange();
    });
    return state;
  }

  function Explorer(root, data) {
    this.root = root;
    this.data = data;
    data.byKey = {};
    data.methods.forEach(function (m) { m.coef = compile(m); data.byKey[m.key] = m; });
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
    this.controls = { lr_fraction: slider(box, id + "-lr",
      "step size η, in units of 2/λmax", data.ranges.lr_fraction, d.lr_fraction) };
    this.owner = {}; // control -> the parameter (and the entry) it sets
    Object.keys(data.controls).forEach(function (name) {
      var c = data.controls[name];
      c.ranges.forEach(function (range, i) {
        var key = c.tuple ? name + "-" + i : name;
        self.controls[key] = slider(box, id + "-" + key, c.labels[i], range,
          c.tuple ? d[name][i] : d[name]);
        self.owner[key] = [name, c.tuple ? i : -1];
      });
    });
    this.controls.steps = slider(box, id + "-steps", "iterations K",
      data.ranges.steps, d.steps);
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
    var p = { method: this.method.value }, c = this.controls;
    p.lr_fraction = c.lr_fraction.value;
    p.steps = Math.max(1, Math.round(c.steps.value));
    for (var key in this.owner) {
      var o = this.owner[key];
      if (o[1] < 0) { p[o[0]] = c[key].value; continue; }
      p[o[0]] = p[o[0]] || [];
      p[o[0]][o[1]] = c[key].value;
    }
    return p;
  };

  /* Recompute and redraw; returns the time it took in milliseconds. */
  Explorer.prototype.update = function () {
    var t0 = performance.now();
    var data = this.data, p = this.params(), key = p.method, m = data.byKey[key];
    for (var c in this.owner) {
      this.controls[c].wrap.hidden = m.params.indexOf(this.owner[c][0]) < 0;
    }
    var sim = simulate(data, key, p), curves = [];
    // the step slider always reaches past the current stable step
    var lr = this.controls.lr_fraction, top = lrFractionMax(data.ranges.lr_fraction,
      sim.hStar);
    top = Math.max(top, lr.value);
    lr.range.max = top; lr.num.max = top;
    var keys = [key];
    if (this.compare.checked) {
      data.methods.forEach(function (o) { if (o.key !== key) { keys.push(o.key); } });
    }
    keys.forEach(function (k, i) {
      var s = i === 0 ? sim : simulate(data, k, p), mk = data.byKey[k];
      curves.push({ key: k, loss: s.loss, color: mk.color, dash: mk.dash,
        stable: s.stable && s.finite,
        short: mk.short + (s.stable && s.finite ? "" : " (diverges)") });
    });
    var diverges = !sim.stable || !sim.finite;
    var x = sim.lr * data.lambda_max, xs = sim.hStar;
    var name = m.label, msg = "", out = this.readout;
    if (diverges) {
      msg = xs > 0 ?
        "diverges: the step η·λmax = " + fmt(x, 4) + " exceeds the stable step " +
        m.formula + " × λmax = " + fmt(xs, 4) + " for " + name :
        "diverges: no step size is stable for " + name + " at these settings";
      if (sim.stable) { msg = "diverges: the loss overflows"; }
    }
    this.lossBox.innerHTML = lossSvg(curves, p.steps, diverges ? "diverges" : "",
      "loss against iteration, " + name +
      (diverges ? ": diverges" : ": final loss " + fmt(sim.finalLoss, 4)));
    this.regionBox.innerHTML = regionSvg(data, m, p, sim, "stable region of " +
      name + " in step and its first parameter; the current point is " +
      (sim.stable ? "inside" : "outside"));
    out.dataset.status = diverges ? "diverges" : "converges";
    out.dataset.finalLoss = String(sim.finalLoss);
    out.dataset.rate = String(sim.rate);
    out.dataset.rho = String(sim.rho);
    out.dataset.lr = String(sim.lr);
    out.dataset.stableLr = String(sim.stableLr);
    out.dataset.method = key;
    out.className = "ntkx-readout" + (diverges ? " ntkx-diverges" : "");
    out.textContent = diverges ? msg :
      m.short + ": η = " + fmt(sim.lr, 4) + " (η·λmax = " + fmt(x, 4) +
      ", stable below " + fmt(xs, 4) + " = " + m.formula + " × λmax); after K = " +
      p.steps + " iterations L_K = " + fmt(sim.finalLoss, 6) + ". ρ = " +
      fmt(sim.rho, 6) + " per iteration k" + (m.varying ? " (at k = K)" : "") +
      ": the largest spectral radius over the modes, by which the error shrinks " +
      "each step (the loss by ρ²; time " + m.clock + "); measured (L_K/L_0)^(1/2K) = " +
      fmt(sim.rate, 6) + ".";
    this.lastUpdateMs = performance.now() - t0;
    return this.lastUpdateMs;
  };

  var instances = {};

  window.ntklibExplorer = {
    version: 2,
    instances: instances,
    simulate: simulate,
    stableH: stableH,
    radius: radius,
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
