"""Trim long functions around dangerous API calls instead of keeping only the head.

One rule serves both budgets: characters (preprocess) and tokens (the
transformer). The signature (lines up to the first `{`) is always kept; the
rest of the budget goes to the contiguous window of lines with the most
dangerous-API lines, earliest window on ties (so a function with no dangerous
call keeps its head).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

DANGEROUS_APIS = (
    "memcpy",
    "memmove",
    "memset",
    "strcpy",
    "strncpy",
    "strcat",
    "strncat",
    "sprintf",
    "vsprintf",
    "snprintf",
    "gets",
    "fgets",
    "scanf",
    "sscanf",
    "malloc",
    "calloc",
    "realloc",
    "free",
    "alloca",
    "read",
    "recv",
    "system",
    "popen",
    "execl",
    "execlp",
    "execv",
    "execvp",
    "av_malloc",
    "av_free",
    "av_freep",
    "av_realloc",
    "g_malloc",
    "g_free",
    "g_new",
    "g_realloc",
)
DANGEROUS_CALL = re.compile(r"\b(?:" + "|".join(DANGEROUS_APIS) + r")\s*\(")
# an indexed write such as `buf[i] = ...` (not `==`)
_ARRAY_WRITE = re.compile(r"\w\s*\[[^\]]*\]\s*(?:[-+*/|&^]|<<|>>)?=(?!=)")


def is_dangerous_line(line: str) -> bool:
    return bool(DANGEROUS_CALL.search(line) or _ARRAY_WRITE.search(line))


@dataclass
class TrimResult:
    text: str
    trimmed: bool
    # "none" (fits), "window" (kept the window with dangerous calls), "head" (no dangerous call)
    how: str


def trim_to_budget(text: str, budget: int, cost: Callable[[str], int] = len) -> TrimResult:
    """Keep the signature plus the most dangerous window of lines within `budget`."""
    lines = text.splitlines(keepends=True)
    return trim_lines(lines, [cost(line) for line in lines], budget)


def trim_lines(lines: list[str], costs: list[int], budget: int) -> TrimResult:
    """`trim_to_budget` over lines whose costs are already known (e.g. token counts)."""
    text = "".join(lines)
    if sum(costs) <= budget:
        return TrimResult(text, False, "none")
    sig_end = next((i + 1 for i, line in enumerate(lines[:20]) if "{" in line), 1)
    sig_cost = sum(costs[:sig_end])
    if sig_cost >= budget:
        return TrimResult(_head(lines, costs, budget), True, "head")
    remaining = budget - sig_cost
    body = lines[sig_end:]
    body_costs = costs[sig_end:]
    hits = [1 if is_dangerous_line(line) else 0 for line in body]
    best_start, best_end, best_hits = 0, 0, -1
    start = window_cost = window_hits = 0
    for end in range(len(body)):
        window_cost += body_costs[end]
        window_hits += hits[end]
        while window_cost > remaining and start <= end:
            window_cost -= body_costs[start]
            window_hits -= hits[start]
            start += 1
        # a window that starts where the best one does is the same window grown: keep growing it,
        # so the kept text fills the budget (the head of a function with no dangerous call, too)
        if window_hits > best_hits or (window_hits == best_hits and start == best_start):
            best_start, best_end, best_hits = start, end + 1, window_hits
    how = "window" if best_hits > 0 else "head"
    kept = lines[:sig_end] + body[best_start:best_end]
    return TrimResult("".join(kept), True, how)


def _head(lines: list[str], costs: list[int], budget: int) -> str:
    out, used = [], 0
    for line, c in zip(lines, costs):
        if used + c > budget:
            break
        out.append(line)
        used += c
    return "".join(out) or lines[0][:budget]


def brace_depth(code: str) -> float:
    """The deepest nesting of braces and parentheses."""
    depth = deepest = 0
    for ch in code:
        if ch in "{(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})":
            depth = max(0, depth - 1)
    return float(deepest)
