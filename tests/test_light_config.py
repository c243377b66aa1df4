"""The light config layer: reading and validating a scenario imports no torch, Sionna, diffusers
or pandas (``linksim validate`` stays fast), and loading the implementations afterwards changes
no validation result. Timings are measured in ``benchmarks/validate.py``, not asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from linksim.errors import LinksimError
from linksim.registry import Registry
from linksim.schema import TypedConfig

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").glob("*.yaml"))
HEAVY = ("torch", "sionna", "diffusers", "pandas", "cv2", "pillow_heif")

# Validates every scenario in one fresh interpreter (the CLI's main, in process), records which
# heavy modules that imported, then loads every scheme and channel and validates again.
PROBE = """
import contextlib, io, json, sys
from linksim.cli import main

def validate_all(paths):
    results = []
    for path in paths:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", path])
        results.append([code, out.getvalue(), err.getvalue()])
    return results

paths = json.loads(sys.argv[1])
light = validate_all(paths)
imported = [name for name in json.loads(sys.argv[2]) if name in sys.modules]
from linksim.channels import CHANNELS
from linksim.schemes import SCHEMES
import linksim.sweep
SCHEMES.items(), CHANNELS.items()
heavy = validate_all(paths)
print(json.dumps({"imported": imported, "light": light, "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def probe() -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(SCENARIOS), json.dumps(HEAVY)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout)


def test_validating_every_scenario_imports_no_heavy_module(probe: dict) -> None:
    assert SCENARIOS
    assert probe["imported"] == []


def test_validation_results_do_not_depend_on_what_is_imported(probe: dict) -> None:
    assert probe["light"] == probe["heavy"]
    for path, (code, out, err) in zip(SCENARIOS, probe["light"]):
        assert (out if code == 0 else err).startswith(f"{path}: " if code == 0 else "linksim: error: ")


def _config(name: str) -> type[TypedConfig]:
    """A config class whose ``type`` is ``Literal[name]``."""
    from typing import Literal

    return type(f"{name.title()}Config", (TypedConfig,), {"__annotations__": {"type": Literal[name]}, "type": name})


def test_a_declared_extension_is_imported_on_first_use_and_keeps_its_place(tmp_path, monkeypatch) -> None:
    registry: Registry = Registry("thing")
    first, second = _config("first"), _config("second")
    registry.declare("lazy_thing_impl:First")(first)
    (tmp_path / "lazy_thing_impl.py").write_text(
        "from tests_registry_probe import REGISTRY, FIRST\n"
        "@REGISTRY.register\nclass First:\n    config_class = FIRST\n"
        "    def __init__(self, config):\n        self.config = config\n")
    (tmp_path / "tests_registry_probe.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    import tests_registry_probe

    monkeypatch.setattr(tests_registry_probe, "REGISTRY", registry, raising=False)
    monkeypatch.setattr(tests_registry_probe, "FIRST", first, raising=False)

    @registry.register
    class Second:
        config_class = second

    assert list(registry) == ["first", "second"] and "first" in registry
    assert registry.config_classes() == (first, second)
    assert "lazy_thing_impl" not in sys.modules  # declared, not imported
    built = registry.build(first())
    assert type(built).__name__ == "First" and registry["first"] is type(built)
    assert list(registry) == ["first", "second"]  # registration filled the declared slot
    for module in ("lazy_thing_impl", "tests_registry_probe"):
        monkeypatch.delitem(sys.modules, module)


def test_registry_refuses_a_second_extension_of_one_name_and_lists_names_in_order() -> None:
    registry: Registry = Registry("thing")
    config = _config("one")
    registry.declare("nowhere:One")(config)
    with pytest.raises(TypeError, match="'one' is registered twice"):
        registry.declare("nowhere:Other")(_config("one"))
    with pytest.raises(LinksimError, match=r"unknown thing 'two' \(accepted: one\)"):
        registry["two"]
