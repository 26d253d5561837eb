"""How much host memory (RAM) a new allocation can use now, to size CPU tiles as CUDA's are
sized from free GPU memory.

Linux: MemAvailable of /proc/meminfo (the kernel's estimate of what can be allocated without
swapping: free memory plus reclaimable caches). Elsewhere: os.sysconf's available physical
pages where the platform has them; None otherwise (callers fall back to a fixed size).
psutil would say the same but is not a dependency for this one number.
"""

from __future__ import annotations

import os

MEMINFO = "/proc/meminfo"


def parse_meminfo_available(text: str) -> int | None:
    """Bytes of MemAvailable in the text of /proc/meminfo ("MemAvailable:  22202604 kB"), or None."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MemAvailable":
            parts = value.split()
            if not parts or not parts[0].isdigit():
                return None
            unit = parts[1].lower() if len(parts) > 1 else "b"
            return int(parts[0]) * {"kb": 1024, "mb": 1 << 20, "gb": 1 << 30}.get(unit, 1)
    return None


def available_ram_bytes() -> int | None:
    """Host memory available to a new allocation now, in bytes; None when it cannot be known."""
    try:
        with open(MEMINFO, encoding="ascii", errors="replace") as handle:
            available = parse_meminfo_available(handle.read())
        if available is not None:
            return available
    except OSError:
        pass
    try:
        pages, page_size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None
