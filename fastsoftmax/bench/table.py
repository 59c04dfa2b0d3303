"""The results as a text table."""
from fastsoftmax.bench.gate import DEFAULT_FRACTION, baseline_ratios


def format_time(seconds):
    """``12.3 us``, ``4.56 ms`` or ``1.23 s``."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_table(results, baseline=None, fraction=DEFAULT_FRACTION):
    """The results as a text table: kernel, fast median, reference median, speed-up."""
    ratios = baseline_ratios(baseline) if baseline is not None else {}
    header = ["kernel", "fast median", "reference median", "speed-up", "target"]
    if ratios:
        header.append("baseline")
    rows = []
    for name, r in results.items():
        if r.get("status") != "ok":
            rows.append([name, "skipped", r.get("reason", ""), "", ""] + ([""] if ratios else []))
            continue
        per = "" if r["unit"] == "call" else f"/{r['unit']}"
        fast = format_time(r["fast_per_unit_us"] * 1e-6) + per
        ref = format_time(r["reference_per_unit_us"] * 1e-6) + per + f" ({r['reference_label']})"
        target = ""
        if r.get("target") and r.get("size", "full") == "full":
            target = f">= {r['target']:g}x " + ("met" if r["speedup"] >= r["target"] else "MISSED")
        elif r.get("target"):  # targets are judged at full sizes
            target = f"(>= {r['target']:g}x at --full)"
        row = [name, fast, ref, f"{r['speedup']:.2f}x", target]
        if ratios:
            base = ratios.get(name)
            row.append("" if base is None else
                       f"{base:.2f}x " + ("ok" if r["speedup"] >= fraction * base else "FAIL"))
        rows.append(row)
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
             for row in [header] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, r in results.items():
        extra = r.get("extra")
        if extra:
            lines.append(f"{name}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in extra.items()))
    return "\n".join(lines)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)
