"""Keep freed heap memory in the benchmark process (glibc), so a figure measures computation.

The defect classifier works through several MB of numpy temporaries per die. glibc returns
the top of its heap to the operating system whenever more than its trim threshold lies free
there, and the next allocations fault those pages back in (about 10,000 minor faults, some
15 ms of a 150 ms characterisation). Whether a run trims depends on where long-lived small
allocations happen to sit, so the figure swung by 10 % with unrelated code changes.
``M_TOP_PAD`` makes glibc keep that much freed memory at the top of the heap (and grow it in
steps as large): the process holds up to that much more memory and no longer trims.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TOP_PAD = -2
"""glibc's ``mallopt`` parameter number of the top pad (malloc.h)."""


def keep_freed_heap(megabytes: int = 16) -> bool:
    """Ask the C allocator to keep ``megabytes`` MB of freed heap (glibc's ``M_TOP_PAD``).

    Returns whether it applied: False where the C library has no ``mallopt`` (not glibc).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_TOP_PAD, megabytes << 20))
