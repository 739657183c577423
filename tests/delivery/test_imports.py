"""The service side installs only what evaluation needs: delivery and the
OpenFeature provider import no CLI, compiler or cloud libraries."""
from __future__ import annotations

import subprocess
import sys

HEAVY = ("click", "yaml", "pydantic", "git", "gojsonnet", "_gojsonnet", "boto3", "botocore", "cryptography",
         "safeflags.cli", "safeflags.compile.driver", "safeflags.source")


def test_delivery_imports_stay_light() -> None:
    code = ("import sys, safeflags.delivery, safeflags.openfeature, safeflags.store;"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
