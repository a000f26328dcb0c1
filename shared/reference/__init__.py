"""Reference data (counties, fields of activity, agencies, bodies) as data, not enums.

Copied from the office's guidance into the project; an operator may point
``REFERENCE_DIR`` at an updated copy.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any


def _dir() -> Path:
    return Path(os.environ.get("REFERENCE_DIR") or Path(__file__).parent)


@cache
def load(name: str) -> dict[str, Any]:
    return json.loads((_dir() / f"{name}.json").read_text(encoding="utf-8"))


def counties() -> dict[str, str]:
    return {c["code"]: c["name"] for c in load("counties")["counties"]}


def fields_of_activity() -> dict[str, dict[str, Any]]:
    return {f["code"]: f for f in load("fields_of_activity")["fields"]}


def agencies() -> dict[str, dict[str, Any]]:
    return {a["code"]: a for a in load("agencies")["agencies"]}
