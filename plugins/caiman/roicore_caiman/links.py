"""HDF5 external links, which this plugin refuses.

Reading through an external link makes the HDF5 library open another file
named inside this one (anywhere on disk), so a crafted result file could make
roicore read files the user never named. Nothing of CaImAn's own output uses
them.
"""

from __future__ import annotations

from typing import Any

import h5py

__all__ = ["is_external", "first_external_link"]


def is_external(group: Any, name: str) -> bool:
    """True when member ``name`` of ``group`` is an external link (the link is not followed)."""
    return isinstance(group.get(name, getlink=True), h5py.ExternalLink)


def first_external_link(handle: Any) -> tuple[str, h5py.ExternalLink] | None:
    """The first external link in the file, as ``(member path, link)``, or None.

    Soft and external links are not followed, and each group is visited once
    (hard links can make cycles), so the walk always ends.
    """
    pending = [handle["/"]]
    seen = {hash(handle["/"].id)}
    while pending:
        group = pending.pop()
        for name in group:
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                return f"{group.name.rstrip('/')}/{name}", link
            if isinstance(link, h5py.HardLink) and group.get(name, getclass=True) is h5py.Group:
                member = group[name]
                key = hash(member.id)
                if key not in seen:
                    seen.add(key)
                    pending.append(member)
    return None
