"""Reads bench-results/report.md and appends a summary table with ratios to Redis direct."""
import re
import sys

path = sys.argv[1]
text = open(path, encoding="utf-8").read()


def rate(pattern):
    m = re.search(pattern, text, re.M)
    return float(m.group(1)) if m else None


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


gw = [float(x) for x in re.findall(r"^\| \d+ \| gateway \(Upstash REST\) \| \d+ \| \d+ \| [\d.]+ \| (\d+) \|", text, re.M)]
direct = [float(x) for x in re.findall(r"^\| \d+ \| direct Redis \(RESP\) \| \d+ \| \d+ \| [\d.]+ \| (\d+) \|", text, re.M)]
origin = [float(x) for x in re.findall(r"^\| \d+ \| origin [^|]*\| \d+ \| \d+ \| [\d.]+ \| (\d+) \|", text, re.M)]
hot = [float(x) for x in re.findall(r"^\| \d+ \| hot-row [^|]*\| \d+ \| \d+ \| [\d.]+ \| (\d+) \|", text, re.M)]
edge = {name: rate(r"^" + re.escape(name) + r"\s+(\d+)") for name in [
    "edge cached read (GET /v1/stock/{sku})", "edge uncached read", "edge reserve (POST /v1/reservations)",
    "edge reserve refused at the edge (sold out)",
    "gateway-direct stock read (same script)", "gateway-direct reserve (same script)",
    "redis-direct stock read (redis-benchmark)", "redis-direct reserve (redis-benchmark)"]}

rows = []
def row(name, value, base):
    if value is None:
        return
    ratio = f"{value / base:.3f}" if base else "-"
    rows.append(f"| {name} | {value:,.0f} | {ratio} |")

rd_reserve = edge["redis-direct reserve (redis-benchmark)"]
rd_read = edge["redis-direct stock read (redis-benchmark)"]
row("reserve script, Redis direct (redis-benchmark)", rd_reserve, rd_reserve)
row("reserve script, through the gateway", edge["gateway-direct reserve (same script)"], rd_reserve)
row("reserve through the edge (workerd → gateway → Redis)", edge["edge reserve (POST /v1/reservations)"], rd_reserve)
row("reserve refused at the edge, sold out (0 Redis calls)", edge["edge reserve refused at the edge (sold out)"], rd_reserve)
row("stock read script, Redis direct (redis-benchmark)", rd_read, rd_read)
row("stock read through the gateway", edge["gateway-direct stock read (same script)"], rd_read)
row("stock read through the edge, uncached", edge["edge uncached read"], rd_read)
row("stock read through the edge, cached (0 Redis calls)", edge["edge cached read (GET /v1/stock/{sku})"], rd_read)
row("reserve-style EVALSHA, direct RESP client (gateway-bench)", mean(direct), mean(direct))
row("reserve-style EVALSHA through the gateway (gateway-bench)", mean(gw), mean(direct))
row("confirm: hot-row UPDATE baseline (origin-bench)", mean(hot), None)
row("confirm: origin protocol (origin-bench)", mean(origin), mean(hot))

with open(path, "a", encoding="utf-8") as f:
    f.write("\n## Summary (ratios to Redis direct for the same operation; confirm: ratio to the hot-row baseline)\n\n")
    f.write("| path | ops/s | ratio |\n|---|---:|---:|\n")
    f.write("\n".join(rows) + "\n")
