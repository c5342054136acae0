"""The catalogue of lawful bases and purposes (policies/catalogue.toml)."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hub.errors import ConfigError


@dataclass(frozen=True)
class Term:
    name: str
    label: str
    dpv: str


@dataclass(frozen=True)
class Catalogue:
    version: str
    digest: str
    lawful_bases: MappingProxyType[str, Term]
    purposes: MappingProxyType[str, Term]


def _terms(path: Path, doc: dict[str, Any], table: str) -> MappingProxyType[str, Term]:
    raw = doc.get(table)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: [{table}] is missing or empty", key=table)
    out: dict[str, Term] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            raise ConfigError(f"{path}: {table}.{name} needs a label", key=f"{table}.{name}")
        out[name] = Term(name, entry["label"], str(entry.get("dpv", "")))
    return MappingProxyType(out)


def load_catalogue(policy_dir: Path) -> Catalogue:
    path = policy_dir / "catalogue.toml"
    try:
        data = path.read_bytes()
        doc = tomllib.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"policy file not found: {path}; set MAPPA_HUB_POLICY_DIR or --policy-dir",
            key="policy_dir",
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}", key="policy_dir") from exc
    return Catalogue(
        version=str(doc.get("version", "")),
        digest=hashlib.sha256(data).hexdigest(),
        lawful_bases=_terms(path, doc, "lawful_bases"),
        purposes=_terms(path, doc, "purposes"),
    )
