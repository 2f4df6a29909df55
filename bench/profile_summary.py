#!/usr/bin/env python
"""Summarise a py-spy `--format raw` profile (collapsed stacks) written by api_load.py --profile.

    python bench/profile_summary.py bench/results/profile-creates-*.txt [--top 40] [--match deskpilot]

Prints inclusive time per function (share of all samples in which the function is on the stack)
and self time per leaf function, so "where does create-time go" reads directly off the table.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";")[1:] if f]  # first item names the process
        stacks.append(([_name(f) for f in frames], int(count)))
    return stacks


def _name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['func']} ({match['file']})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--match", default="", help="only functions whose name or file contains this")
    p.add_argument("--under", default="", help="only samples whose stack contains this frame text")
    args = p.parse_args()
    stacks = parse(args.profile)
    if args.under:
        stacks = [(s, c) for s, c in stacks if any(args.under in f for f in s)]
    total = sum(c for _, c in stacks) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        for name in set(frames):
            inclusive[name] += count
        if frames:
            own[frames[-1]] += count
    print(f"{total} samples")
    print(f"\n{'inclusive':>9}  function")
    shown = 0
    for name, count in inclusive.most_common():
        if args.match in name:
            print(f"{100 * count / total:8.1f}%  {name}")
            shown += 1
            if shown >= args.top:
                break
    print(f"\n{'self':>9}  function")
    for name, count in own.most_common(args.top):
        print(f"{100 * count / total:8.1f}%  {name}")


if __name__ == "__main__":
    main()
