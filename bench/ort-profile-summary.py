"""Kernel time by op type from ONNX Runtime profiles (`--ort-profile`, `PROFILE=` of bench/graph-ab.mjs).

On a shared machine a few kernels are descheduled for tens of milliseconds, so plain sums rank ops by bad luck;
this sums, per op type, the median duration of each (op, input shapes) group times the group's size.
Usage: python3 bench/ort-profile-summary.py profile.json [more.json ...]
"""

import collections
import json
import statistics
import sys

for path in sys.argv[1:]:
    with open(path) as f:
        events = [e for e in json.load(f) if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    groups = collections.defaultdict(list)
    for e in events:
        a = e["args"]
        groups[(a["op_name"], json.dumps(a.get("input_type_shape")))].append(e["dur"])
    robust, raw, count = collections.Counter(), collections.Counter(), collections.Counter()
    for (op, _), durs in groups.items():
        robust[op] += statistics.median(durs) * len(durs)
        raw[op] += sum(durs)
        count[op] += len(durs)
    total = sum(robust.values())
    print(f"{path}: robust kernel time {total / 1000:.0f} ms (plain sum {sum(raw.values()) / 1000:.0f} ms)")
    for op, t in robust.most_common(12):
        print(f"  {op:14s} {100 * t / total:5.1f} %  {t / 1000:8.0f} ms  ({count[op]} kernels; plain sum {raw[op] / 1000:.0f} ms)")
