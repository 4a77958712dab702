"""Globally unique, time-ordered ids for runs and samples (the UUIDv7 layout, as 32 hex characters).

Ids are global so another machine's database can be merged without collisions; they are time-ordered so that
inserting a batch touches the end of the primary-key index instead of pages all over it (measured: commit cost
per traced sample falls about threefold against random uuid4 ids).
"""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """48 bits of Unix milliseconds, the version and variant bits, and 74 random bits."""
    milliseconds = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")
    value = (milliseconds & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((random_bits >> 62) & 0xFFF) << 64  # 12 random bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= random_bits & ((1 << 62) - 1)  # 62 random bits
    return f"{value:032x}"
