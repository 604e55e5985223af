"""A small layered (Sugiyama-style) graph layout, pure geometry: boxes of given sizes and the
edges between them -> box centres and edge polylines, in points. plot_model draws a model with it
when Graphviz is not there (plotting.py).

Layers by longest path from the inputs; long edges pass through dummy nodes so they route around
boxes; barycenter sweeps reduce crossings; orthogonal edges turn on tracks between the layers.
"""

_GAP_ORDER, _GAP_DUMMY, _GAP_RANK, _TRACK, _MARGIN = 30.0, 12.0, 40.0, 10.0, 12.0


def _ranks(n, edges):
    """Longest-path layering; edges pointing backwards (shared layers) are laid out reversed."""
    fwd = [(s, d, False) if s < d else (d, s, True) for s, d in edges if s != d]
    rank = [0] * n
    for s, d, _ in sorted(fwd, key=lambda e: e[1]):
        rank[d] = max(rank[d], rank[s] + 1)
    return rank, fwd


def _order(layers, pred, succ):
    """Barycenter sweeps to reduce crossings; keeps the best ordering seen."""
    def crossings():
        pos = {v: i for layer in layers for i, v in enumerate(layer)}
        c = 0
        for layer in layers[:-1]:
            es = [(pos[u], pos[v]) for u in layer for v in succ[u]]
            c += sum((a - x) * (b - y) < 0 for i, (a, b) in enumerate(es) for x, y in es[i + 1:])
        return c

    best, best_c = [list(layer) for layer in layers], crossings()
    for sweep in range(8):
        down = sweep % 2 == 0
        for r in (range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)):
            ref = {v: i for i, v in enumerate(layers[r - 1 if down else r + 1])}
            nbr = pred if down else succ
            here = {v: i for i, v in enumerate(layers[r])}
            layers[r].sort(key=lambda v: sum(ref[u] for u in nbr[v]) / len(nbr[v]) if nbr[v] else here[v])
        c = crossings()
        if c < best_c:
            best, best_c = [list(layer) for layer in layers], c
    return best


def _fit(want, gaps):
    """Positions in order, gaps[i] apart at least, near `want`: the mean of the leftmost and the
    rightmost feasible solutions, which is feasible too."""
    left, right = list(want), list(want)
    for i in range(1, len(want)):
        left[i] = max(want[i], left[i - 1] + gaps[i - 1])
    for i in range(len(want) - 2, -1, -1):
        right[i] = min(want[i], right[i + 1] - gaps[i])
    return [(a + b) / 2 for a, b in zip(left, right)]


def _place(layers, sep, pred, succ):
    """Positions along each layer: near the mean of the neighbours, never closer than sep(a, b)."""
    x = {}

    def fit(layer, want):
        for v, p in zip(layer, _fit(want, [sep(a, b) for a, b in zip(layer, layer[1:])])):
            x[v] = p

    for layer in layers:
        fit(layer, [0.0] * len(layer))
    for _ in range(6):
        for down in (True, False):
            for layer in (layers[1:] if down else layers[-2::-1]):
                nbr = pred if down else succ
                fit(layer, [sum(x[u] for u in nbr[v]) / len(nbr[v]) if nbr[v] else x[v] for v in layer])
    return x


def _straighten(chains, layers, sep, x):
    """Moves the dummy nodes of each long edge onto one line where the neighbours leave room."""
    where = {v: (layer, i) for layer in layers for i, v in enumerate(layer)}

    def fits(d, c):
        layer, i = where[d]
        return ((i == 0 or c >= x[layer[i - 1]] + sep(layer[i - 1], d) - 1e-6) and
                (i == len(layer) - 1 or c <= x[layer[i + 1]] - sep(d, layer[i + 1]) + 1e-6))

    for chain, _ in chains:
        dummies = chain[1:-1]
        for c in sorted({x[d] for d in dummies}, key=lambda c: sum(abs(x[d] - c) for d in dummies)):
            if all(fits(d, c) for d in dummies):
                for d in dummies:
                    x[d] = c
                break


def _ports(chains, x, so):
    """Where each chain leaves its first box and enters its last.

    Edges leave a box from one point (a fan-out draws as a tree). A box with several inputs takes
    them at points spread along its side, in the order of their sources and straight below a
    source where there is room, so a merge shows one arrowhead per input.
    """
    start, inc, end = {}, {}, {}
    for k, (c, _) in enumerate(chains):
        start[k] = x[c[0]]
        inc.setdefault(c[-1], []).append((x[c[-2]], k))
    for v, items in inc.items():
        if len(items) == 1:
            end[items[0][1]] = x[v]
            continue
        items.sort()
        lo, hi = x[v] - 0.4 * so[v], x[v] + 0.4 * so[v]
        step = min(24.0, 0.6 * so[v] / (len(items) - 1))
        pos = _fit([min(max(src, lo), hi) for src, _ in items], [step] * (len(items) - 1))
        for i in range(len(pos)):  # back onto the side: (n-1) steps fit between lo and hi
            pos[i] = max(pos[i], lo + i * step, pos[i - 1] + step if i else lo)
        for i in range(len(pos) - 1, -1, -1):
            pos[i] = min(pos[i], hi if i == len(pos) - 1 else pos[i + 1] - step)
        for p, (src, k) in zip(pos, items):
            end[k] = src if abs(p - src) < 4 and lo <= src <= hi else p  # no little jog before the arrow
    return start, end


def _route(chains, layers, vrank, x, sr, start, end, splines):
    """Each chain's polyline as (o, r) points, and each layer's centre across the layers.

    Orthogonal edges turn on a track in the gap after their layer. Overlapping turns share a
    track only when they leave the same box (a tree); the gap grows to hold the tracks.
    """
    thick = [max((sr[v] for v in layer), default=0.0) for layer in layers]
    tracks = [[] for _ in layers]
    turns = {}
    for k, (chain, _) in enumerate(chains):
        for j in range(len(chain) - 1):
            a = start[k] if j == 0 else x[chain[j]]
            b = end[k] if j == len(chain) - 2 else x[chain[j + 1]]
            if splines == "ortho" and abs(a - b) > 0.5:
                lo, hi = min(a, b), max(a, b)
                gap = tracks[vrank[chain[j]]]
                t = 0
                while t < len(gap) and any(lo <= h2 + 1 and l2 <= hi + 1 and chain[0] != c0
                                           for l2, h2, c0 in gap[t]):
                    t += 1
                if t == len(gap):
                    gap.append([])
                gap[t].append((lo, hi, chain[0]))
                turns[k, j] = t
    gaps = [max(_GAP_RANK, (len(t) + 1) * _TRACK) for t in tracks]
    centre = [thick[0] / 2]
    for r in range(1, len(layers)):
        centre.append(centre[-1] + thick[r - 1] / 2 + gaps[r - 1] + thick[r] / 2)

    paths = []
    for k, (chain, flipped) in enumerate(chains):
        s, d = chain[0], chain[-1]
        pts = [(start[k], centre[vrank[s]] + sr[s] / 2)]
        for j in range(len(chain) - 1):
            a = pts[-1][0]
            b = end[k] if j == len(chain) - 2 else x[chain[j + 1]]
            r = vrank[chain[j]]
            if (k, j) in turns:
                t = centre[r] + thick[r] / 2 + gaps[r] * (turns[k, j] + 1) / (len(tracks[r]) + 1)
                pts += [(a, t), (b, t)]
            if chain[j + 1] == d:
                pts.append((b, centre[vrank[d]] - sr[d] / 2))
            else:  # through a dummy node: straight across its layer
                pts += [(b, centre[r + 1] - thick[r + 1] / 2), (b, centre[r + 1] + thick[r + 1] / 2)]
        paths.append(pts[::-1] if flipped else pts)
    return paths, centre


def layout(sizes, edges, rankdir, splines):
    """Box centres and edge polylines, in points, for boxes of `sizes` [(w, h)] and `edges`.

    Layers by longest path from the inputs; long edges pass through dummy nodes so they route
    around boxes. Coordinates are worked out along the layer (o) and across layers (r), then mapped
    to the page for rankdir TB / BT / LR / RL.
    """
    horizontal = rankdir in ("LR", "RL")
    n = len(sizes)
    so = [h if horizontal else w for w, h in sizes]  # size along a layer
    sr = [w if horizontal else h for w, h in sizes]  # size across it
    rank, fwd = _ranks(n, edges)
    vrank, real = list(rank), [True] * n
    pred, succ = [[] for _ in range(n)], [[] for _ in range(n)]
    chains = []
    for s, d, flipped in fwd:
        chain = [s]
        for r in range(rank[s] + 1, rank[d]):
            vrank.append(r)
            real.append(False)
            pred.append([])
            succ.append([])
            so.append(0.0)
            sr.append(0.0)
            chain.append(len(vrank) - 1)
        chain.append(d)
        for a, b in zip(chain, chain[1:]):
            succ[a].append(b)
            pred[b].append(a)
        chains.append((chain, flipped))
    layers = [[] for _ in range(max(vrank, default=0) + 1)]
    for v, r in enumerate(vrank):
        layers[r].append(v)
    layers = _order(layers, pred, succ)

    def sep(a, b):
        return (so[a] + so[b]) / 2 + (_GAP_ORDER if real[a] and real[b] else _GAP_DUMMY)

    x = _place(layers, sep, pred, succ)
    _straighten(chains, layers, sep, x)
    start, end = _ports(chains, x, so)
    paths, centre = _route(chains, layers, vrank, x, sr, start, end, splines)

    def page(o, r):
        return {"TB": (o, -r), "BT": (o, r), "LR": (r, -o), "RL": (-r, -o)}[rankdir]

    centres = [page(x[v], centre[rank[v]]) for v in range(n)]
    paths = [[page(o, r) for o, r in pts] for pts in paths]
    xs = [c[0] + s * w / 2 for c, (w, _) in zip(centres, sizes) for s in (-1, 1)] or [0.0]
    ys = [c[1] + s * h / 2 for c, (_, h) in zip(centres, sizes) for s in (-1, 1)] or [0.0]
    dx, dy = _MARGIN - min(xs), _MARGIN - min(ys)
    centres = [(cx + dx, cy + dy) for cx, cy in centres]
    paths = [[(px + dx, py + dy) for px, py in pts] for pts in paths]
    return centres, paths, (max(xs) - min(xs) + 2 * _MARGIN, max(ys) - min(ys) + 2 * _MARGIN)
