"""The graph page in a real headless Chromium: run by tests/graph_page.rs.

Usage: check.py BASE_URL FIRST.json GROWN.json PROFILE_DIR

Loads BASE_URL/, waits until the page draws exactly the members and edges
of FIRST.json (what the Elastic Grid rule gives, worked out by the Rust
test) and of the daemon's /v1/graph, each edge a visible line between its
two members; prints "drawn" and waits for a line on stdin (the test grows
the fleet meanwhile); then waits until the page draws GROWN.json, without a
reload, and prints "grown drawn". Every request the browser made must have
gone to 127.0.0.1. Exits non-zero, saying why, on any failure.
"""

import json
import sys
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

WAIT_SECONDS = 30
# How far, in pixels, an edge's end may be from its member's centre: the
# line stops at the shape's rim (a radius of 10 to 13) and the arrowhead.
NEAR = 20

# What the page draws: members, and edges with their ends on screen,
# checked against the members' shapes on screen.
DRAWN = """
const centre = (element) => {
  const box = element.getBoundingClientRect();
  return [box.x + box.width / 2, box.y + box.height / 2, box.width, box.height];
};
const onScreen = (element, x, y) => {
  const m = element.getScreenCTM();
  return [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
};
const visible = (element) => {
  const style = getComputedStyle(element);
  return style.display !== 'none' && style.visibility !== 'hidden' && style.opacity !== '0';
};
const nodes = {};
for (const g of document.querySelectorAll('#graph g.node[data-id]')) {
  const shape = g.querySelector('.shape');
  nodes[g.getAttribute('data-id')] = {
    centre: shape ? centre(shape) : null,
    visible: !!shape && visible(g) && visible(shape),
    classes: g.getAttribute('class'),
  };
}
const edges = [];
for (const line of document.querySelectorAll('#graph line.edge')) {
  const number = (name) => parseFloat(line.getAttribute(name));
  const style = getComputedStyle(line);
  edges.push({
    from: line.getAttribute('data-from'),
    to: line.getAttribute('data-to'),
    start: onScreen(line, number('x1'), number('y1')),
    end: onScreen(line, number('x2'), number('y2')),
    visible: visible(line) && style.stroke !== 'none' && parseFloat(style.strokeOpacity) > 0
      && parseFloat(style.strokeWidth) > 0,
  });
}
return {nodes, edges, status: document.getElementById('status').textContent};
"""


def fail(message):
    print("FAILED: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def graph_of_api(base):
    with urllib.request.urlopen(base + "/v1/graph", timeout=10) as response:
        graph = json.load(response)
    return {
        "nodes": sorted(node["id"] for node in graph["nodes"]),
        "edges": sorted([edge["from"], edge["to"]] for edge in graph["edges"]),
    }


def problems(drawn, expected):
    """What is wrong with the drawing, compared to the expected graph."""
    found = []
    nodes = drawn["nodes"]
    if sorted(nodes) != sorted(expected["nodes"]):
        missing = sorted(set(expected["nodes"]) - set(nodes))
        extra = sorted(set(nodes) - set(expected["nodes"]))
        found.append("members missing %s, extra %s" % (missing, extra))
    for node_id, node in nodes.items():
        if not node["visible"] or not node["centre"] or node["centre"][2] <= 0:
            found.append("member %s is not visible" % node_id)
    edges = sorted([edge["from"], edge["to"]] for edge in drawn["edges"])
    want = sorted(expected["edges"])
    if edges != want:
        have = set(map(tuple, edges))
        need = set(map(tuple, want))
        found.append(
            "%d edges drawn, %d expected; missing %s; extra %s"
            % (len(edges), len(want), sorted(need - have)[:5], sorted(have - need)[:5])
        )
    for edge in drawn["edges"]:
        name = "%s -> %s" % (edge["from"], edge["to"])
        if not edge["visible"]:
            found.append("edge %s is not visible" % name)
            continue
        for end, member in (("start", edge["from"]), ("end", edge["to"])):
            node = nodes.get(member)
            if not node or not node["centre"]:
                continue
            x, y = edge[end]
            cx, cy = node["centre"][:2]
            if ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5 > NEAR:
                found.append("edge %s: its %s is not at %s" % (name, end, member))
    return found


def wait_until_drawn(driver, expected, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        drawn = driver.execute_script(DRAWN)
        found = problems(drawn, expected)
        if not found:
            return drawn
        if time.monotonic() > deadline:
            fail("%s not drawn within %ds (status: %r): %s"
                 % (what, WAIT_SECONDS, drawn["status"], "; ".join(found[:10])))
        time.sleep(0.2)


def requests_made(driver):
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def main():
    base, first_file, grown_file, profile = sys.argv[1:5]
    with open(first_file) as file:
        first = json.load(file)
    with open(grown_file) as file:
        grown = json.load(file)
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 "--user-data-dir=" + profile):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.set_page_load_timeout(WAIT_SECONDS)
        driver.set_script_timeout(WAIT_SECONDS)
        # What the browser loaded on its own before the page (its new tab
        # page, chrome:// and data: URLs) is left out of the judgement.
        driver.get("about:blank")
        before = requests_made(driver)
        driver.get(base + "/")
        drawn = wait_until_drawn(driver, first, "the first fleet")
        api = graph_of_api(base)
        if api != {"nodes": sorted(first["nodes"]), "edges": sorted(first["edges"])}:
            fail("/v1/graph differs from the rule's graph: %s" % api)
        own = [node_id for node_id, node in drawn["nodes"].items()
               if "self" in node["classes"].split()]
        if len(own) != 1:
            fail("self is not marked once: %s" % own)
        print("drawn", flush=True)
        if sys.stdin.readline().strip() != "grown":
            fail("the test did not grow the fleet")
        wait_until_drawn(driver, grown, "the grown fleet")
        urls = requests_made(driver)
        if not urls:
            fail("the performance log shows no request at all")
        outside = [url for url in urls if urllib.parse.urlsplit(url).hostname != "127.0.0.1"]
        if outside:
            fail("requests left 127.0.0.1: %s" % outside)
        graph_requests = [url for url in urls if urllib.parse.urlsplit(url).path == "/v1/graph"]
        print("requests: %d, of /v1/graph: %d (%d by the browser before the page)"
              % (len(urls), len(graph_requests), len(before)), flush=True)
        print("grown drawn", flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
