// Draws the registration graph of /v1/graph as SVG: members grouped by
// their clusters, a shape and colour per role, an arrow from each member to
// each member it registers with. Asks /v1/graph again every few seconds and
// redraws only when the answer changed. Builds the drawing with DOM calls
// only (never markup from data), and loads nothing from anywhere else.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_MS = 2000;
  // Shapes and colours given to roles in name order (as --format dot does).
  const SHAPES = ["box", "ellipse", "diamond", "hexagon", "octagon", "triangle"];
  const COLOURS = ["#8ecae6", "#ffb703", "#90be6d", "#f4a1c1", "#c9b6e4", "#f9844a"];
  const MARKS = ["self", "stale", "leaving", "unconfirmed"];
  const R = 10; // a node's radius
  const STEP_X = 120, STEP_Y = 56, PAD = 16, TITLE = 22, GAP = 16;

  const svg = document.getElementById("graph");
  const statusLine = document.getElementById("status");
  const notesList = document.getElementById("notes");
  const legend = document.getElementById("legend");
  let lastText = null;
  let lastGraph = null;
  let changedAt = null;

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) {
      node.setAttribute(key, String(value));
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, content, attrs) {
    const node = el("text", attrs, parent);
    node.textContent = content;
    return node;
  }

  function points(corners, radius, turn) {
    const list = [];
    for (let i = 0; i < corners; i++) {
      const angle = turn + (2 * Math.PI * i) / corners;
      list.push((radius * Math.cos(angle)).toFixed(2) + "," + (radius * Math.sin(angle)).toFixed(2));
    }
    return list.join(" ");
  }

  // A shape of `kind` centred on (0, 0) in `parent`.
  function shape(kind, colour, parent) {
    const attrs = { class: "shape", fill: colour };
    switch (kind) {
      case "box": return el("rect", Object.assign(attrs, { x: -R, y: -R, width: 2 * R, height: 2 * R }), parent);
      case "ellipse": return el("circle", Object.assign(attrs, { r: R }), parent);
      case "diamond": return el("polygon", Object.assign(attrs, { points: points(4, R * 1.3, -Math.PI / 2) }), parent);
      case "hexagon": return el("polygon", Object.assign(attrs, { points: points(6, R * 1.1, 0) }), parent);
      case "octagon": return el("polygon", Object.assign(attrs, { points: points(8, R * 1.1, Math.PI / 8) }), parent);
      default: return el("polygon", Object.assign(attrs, { points: points(3, R * 1.3, -Math.PI / 2) }), parent);
    }
  }

  function roleStyles(nodes) {
    const roles = Array.from(new Set(nodes.map((node) => node.role))).sort();
    const styles = new Map();
    roles.forEach((role, index) => {
      styles.set(role, { shape: SHAPES[index % SHAPES.length], colour: COLOURS[index % COLOURS.length] });
    });
    return styles;
  }

  // Members in the same clusters share a box; those in none come last.
  function groups(nodes) {
    const byKey = new Map();
    for (const node of nodes) {
      const key = node.clusters.join(", ");
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(node);
    }
    const keys = Array.from(byKey.keys()).sort((a, b) => (a === "") - (b === "") || (a < b ? -1 : a > b ? 1 : 0));
    return keys.map((key) => ({
      key,
      nodes: byKey.get(key).sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    }));
  }

  // Places each group (a grid of its members) on shelves across `width`;
  // returns each member's centre and the drawing's height.
  function layout(boxes, width) {
    const centres = new Map();
    const maxCols = Math.max(1, Math.floor((width - 2 * PAD) / STEP_X));
    let x = 0, y = 0, shelf = 0;
    for (const box of boxes) {
      const count = box.nodes.length;
      const cols = Math.min(count, maxCols, Math.max(1, Math.ceil(Math.sqrt(count * 2))));
      const rows = Math.ceil(count / cols);
      box.width = cols * STEP_X + 2 * PAD;
      box.height = TITLE + rows * STEP_Y + PAD / 2;
      if (x > 0 && x + box.width > width) {
        x = 0;
        y += shelf + GAP;
        shelf = 0;
      }
      box.x = x;
      box.y = y;
      box.nodes.forEach((node, index) => {
        centres.set(node.id, {
          x: x + PAD + (index % cols) * STEP_X + STEP_X / 2,
          y: y + TITLE + Math.floor(index / cols) * STEP_Y + R + 6,
        });
      });
      x += box.width + GAP;
      shelf = Math.max(shelf, box.height);
    }
    return { centres, height: y + shelf };
  }

  function draw(graph) {
    const width = Math.max(600, document.documentElement.clientWidth - 32);
    const styles = roleStyles(graph.nodes);
    const boxes = groups(graph.nodes);
    const { centres, height } = layout(boxes, width);
    svg.replaceChildren();
    svg.setAttribute("width", width);
    svg.setAttribute("height", height + 2);
    svg.setAttribute("viewBox", "0 0 " + width + " " + (height + 2));
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#557" }, marker);

    for (const box of boxes) {
      const g = el("g", { class: "group", transform: "translate(" + box.x + "," + box.y + ")" }, svg);
      g.setAttribute("data-clusters", box.key);
      el("rect", { width: box.width, height: box.height, rx: 6 }, g);
      text(g, box.key === "" ? "no cluster" : "cluster " + box.key, { x: 8, y: 15 });
    }
    const edges = el("g", { class: "edges" }, svg);
    for (const edge of graph.edges) {
      const from = centres.get(edge.from), to = centres.get(edge.to);
      if (!from || !to) continue;
      const dx = to.x - from.x, dy = to.y - from.y;
      const length = Math.hypot(dx, dy);
      if (length < 2 * R) continue;
      const ux = dx / length, uy = dy / length;
      const line = el("line", {
        class: edge.from === graph.self ? "edge from-self" : "edge",
        x1: (from.x + ux * R).toFixed(1), y1: (from.y + uy * R).toFixed(1),
        x2: (to.x - ux * (R + 1)).toFixed(1), y2: (to.y - uy * (R + 1)).toFixed(1),
        "marker-end": "url(#arrow)",
      }, edges);
      line.setAttribute("data-from", edge.from);
      line.setAttribute("data-to", edge.to);
    }
    const nodes = el("g", { class: "nodes" }, svg);
    for (const node of graph.nodes) {
      const centre = centres.get(node.id);
      const style = styles.get(node.role);
      const g = el("g", { class: ["node"].concat(node.flags).join(" "), transform: "translate(" + centre.x + "," + centre.y + ")" }, nodes);
      g.setAttribute("data-id", node.id);
      shape(style.shape, style.colour, g);
      text(g, node.id, { y: R + 12 });
      const where = node.address ? (node.port ? node.address + " port " + node.port : node.address) : "no address";
      const title = el("title", {}, g);
      title.textContent = [node.id, node.role, node.clusters.length ? "clusters " + node.clusters.join(", ") : "no cluster", where]
        .concat(node.flags).join("\n");
    }
    drawLegend(styles);
    notesList.replaceChildren();
    for (const note of graph.notes) {
      const item = document.createElement("li");
      item.textContent = note;
      notesList.appendChild(item);
    }
  }

  function legendEntry(label, draw) {
    const entry = document.createElement("span");
    const icon = document.createElementNS(SVG, "svg");
    icon.setAttribute("width", 26);
    icon.setAttribute("height", 26);
    icon.setAttribute("viewBox", "-13 -13 26 26");
    draw(icon);
    entry.appendChild(icon);
    entry.appendChild(document.createTextNode(label));
    legend.appendChild(entry);
  }

  function drawLegend(styles) {
    legend.replaceChildren();
    for (const [role, style] of styles) {
      legendEntry(role, (icon) => shape(style.shape, style.colour, el("g", { class: "node" }, icon)));
    }
    for (const mark of MARKS) {
      legendEntry(mark, (icon) => shape("ellipse", "#eee", el("g", { class: "node " + mark }, icon)));
    }
    legendEntry("registers with", (icon) => el("line", { class: "edge", x1: -11, y1: 0, x2: 9, y2: 0, "marker-end": "url(#arrow)" }, icon));
  }

  function clock(date) {
    return date.toTimeString().slice(0, 8);
  }

  function showStatus(message, failed) {
    statusLine.textContent = message;
    statusLine.classList.toggle("failed", failed);
  }

  async function refresh() {
    try {
      const response = await fetch("/v1/graph", { cache: "no-store" });
      const body = await response.text();
      if (!response.ok) {
        let reason = body;
        try { reason = JSON.parse(body).error || body; } catch (ignored) { /* not JSON */ }
        showStatus("/v1/graph answered " + response.status + ": " + reason + " (the drawing is the last good graph)", true);
      } else {
        if (body !== lastText) {
          lastGraph = JSON.parse(body);
          draw(lastGraph);
          lastText = body;
          changedAt = new Date();
        }
        showStatus(lastGraph.nodes.length + " members, " + lastGraph.edges.length + " edges; changed " +
          clock(changedAt) + ", checked " + clock(new Date()), false);
      }
    } catch (err) {
      showStatus("cannot read /v1/graph: " + err + " (the drawing is the last good graph)", true);
    } finally {
      setTimeout(refresh, POLL_MS);
    }
  }

  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { if (lastGraph) draw(lastGraph); }, 200);
  });
  refresh();
})();
