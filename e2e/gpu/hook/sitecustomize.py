"""Measurement hook of the GPU proof, active only with SCOWSPEC_E2E_HOOK=1 (this folder first on PYTHONPATH).

At exit each CUDA process prints its peak allocated GPU memory and the world line, nothing else.
"""

import atexit
import os
import sys

if os.environ.get("SCOWSPEC_E2E_HOOK") == "1":

    def _peak() -> None:
        torch = sys.modules.get("torch")
        if torch is None:
            return
        try:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                gib = torch.cuda.max_memory_allocated() / 2**30
                print(
                    f"[e2e] tag={os.environ.get('SCOWSPEC_E2E_TAG', '-')} rank={os.environ.get('RANK', '-')} "
                    f"peak_alloc_GiB={gib:.2f}",
                    flush=True,
                )
        except Exception as exc:
            print(f"[e2e] peak error {exc!r}", flush=True)

    atexit.register(_peak)
