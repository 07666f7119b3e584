"""What this machine computes with: the CPU's model and instruction sets, and native bfloat16.

Speeds measured on one CPU do not carry over to another (AVX2 and AVX-512 machines both occur, and only some
have bfloat16 instructions), so the chat path choice, the training precision and every benchmark's machine
line read them from here.
"""

from __future__ import annotations

import platform

ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "fma", "neon", "asimd")
"""The CPU flags that decide which matrix kernels MKL/oneDNN run."""

#: Flags of CPUs that compute bfloat16 natively (elsewhere bf16 is emulated, hence slower than float32).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or :func:`platform.processor` elsewhere)."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """Every flag ``/proc/cpuinfo`` lists for this CPU (empty where there is no such file)."""
    return set((_cpuinfo_field("flags") or _cpuinfo_field("Features") or "").split())


def isa_flags() -> list[str]:
    """The :data:`ISA_FLAGS` this CPU has, in that order."""
    present = cpu_flags()
    return [flag for flag in ISA_FLAGS if flag in present]


def has_native_bf16() -> bool:
    """Whether this machine computes bfloat16 natively: a CUDA GPU that supports it, or a CPU with
    AVX512-BF16 or AMX."""
    import torch

    if torch.cuda.is_available():
        return bool(torch.cuda.is_bf16_supported())
    return bool(cpu_flags() & set(BF16_FLAGS))


def _cpuinfo_field(name: str) -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return ""


def _libc() -> object | None:
    """glibc through ctypes, or ``None`` elsewhere (musl, macOS, Windows)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``); ``False`` where unsupported.

    torch frees a CPU tensor of a few hundred kilobytes into glibc's heap, which keeps the pages: after a
    burst of short-lived tensors (loading weights, then replacing them) the process's resident set stays at
    its high-water mark although the memory is free.
    """
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))  # type: ignore[attr-defined]


#: glibc's ``mallopt`` parameter for the size from which an allocation gets its own memory map.
_M_MMAP_THRESHOLD = -3


def map_large_allocations(threshold: int) -> bool:
    """Give every C allocation of ``threshold`` bytes or more its own memory map (glibc); ``False`` where
    unsupported.

    By default glibc raises this threshold after each large free (up to 32 MiB), so after the first big
    temporary, tensors of a few megabytes all come from one heap. A training step allocates thousands of
    them with different lifetimes (checkpointed activations kept, their recomputed neighbours dropped), the
    heap fragments and its resident size grows far beyond what is alive. Mapped allocations go back to the
    system on free, at the price of fresh zeroed pages on each allocation. A fixed threshold also stops the
    dynamic raise. Affects allocations made after the call, in the whole process.
    """
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))  # type: ignore[attr-defined]


#: glibc's ``mallopt`` parameters for the free heap top kept before trimming, and the extra asked per growth.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2


def keep_heap_top(trim_threshold: int, top_pad: int) -> bool:
    """Keep up to ``trim_threshold`` bytes of free memory at the top of glibc's heap, and grow it by
    ``top_pad`` bytes more than asked; ``False`` where unsupported.

    A fixed mmap threshold (:func:`map_large_allocations`) also freezes glibc's trim threshold, 128 kB by
    default: the heap top then goes back to the system and is faulted in again, page by page, many times a
    second in a training step. Affects the whole process.
    """
    libc = _libc()
    return bool(
        libc is not None
        and libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))  # type: ignore[attr-defined]
        and libc.mallopt(_M_TOP_PAD, int(top_pad))  # type: ignore[attr-defined]
    )
