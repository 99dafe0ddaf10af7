"""Shared by the benches/run-*.sh scripts: their JSON result rows, and a table of each figure's
median (min–max) over rounds, one column per server in the order they first ran."""

import json
import statistics


def load(path):
    """The JSON rows of a results file (lines starting with '{')."""
    return [json.loads(line) for line in open(path) if line.startswith("{")]


def labels_of(rows):
    """The servers (row labels), in the order they first appear."""
    labels = []
    for r in rows:
        if r["label"] not in labels:
            labels.append(r["label"])
    return labels


def cell(vs, fmt):
    """The median of `vs` with its range, or a dash when there is none."""
    if not vs:
        return "–"
    m = fmt.format(statistics.median(vs))
    return m if len(vs) == 1 else f"{m} ({fmt.format(min(vs))}–{fmt.format(max(vs))})"


def print_medians(rows, labels, metrics):
    """Prints the table; `metrics` are (name, get, fmt) with `get(row)` a number or None."""
    print("\nmedian (min–max) over rounds")
    print("| figure | " + " | ".join(labels) + " |")
    print("|---" * (1 + len(labels)) + "|")
    for name, get, fmt in metrics:
        cells = [cell([v for v in (get(r) for r in rows if r["label"] == l) if v is not None], fmt)
                 for l in labels]
        print(f"| {name} | " + " | ".join(cells) + " |")


def key(name):
    """A `get` for `print_medians`: the row's number at `name`, if it is a number."""
    return lambda r: r[name] if isinstance(r.get(name), (int, float)) else None
