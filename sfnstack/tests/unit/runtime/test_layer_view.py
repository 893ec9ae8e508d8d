"""A built layer (as `sam build` writes it, for another platform) runs locally: its
distributions with binaries this interpreter cannot load give way to the host's builds, the
rest of the layer is used as built, and the stack says so once on stderr, as it does when
the functions declare another Python than the one running them."""

from __future__ import annotations

import importlib.machinery
import struct
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from sfnstack.lambdas import LambdaPool, resolve_functions
from sfnstack.lambdas import functions as functions_module
from sfnstack.lambdas.layer_view import is_foreign_binary, view
from sfnstack.template import load_template


def host_machine() -> int:
    head = Path(sys.executable).resolve().read_bytes()[:20]
    if head[:4] != b"\x7fELF":
        pytest.skip("needs an ELF host (Linux)")
    return struct.unpack("<H" if head[5] == 1 else ">H", head[18:20])[0]


def elf(machine: int) -> bytes:
    """The start of a 64-bit little-endian ELF shared object for ``machine``."""
    return b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HH", 3, machine) + b"\0" * 44


def other_machine() -> int:
    return 0xB7 if host_machine() != 0xB7 else 0x3E  # aarch64, or x86-64 on an aarch64 host


def install(site: Path, distribution: str, files: dict[str, bytes]) -> None:
    """Lays ``files`` out under ``site`` as pip --target would, with a dist-info RECORD."""
    for name, content in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(content)
    info = site / f"{distribution}-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("".join(f"{name},,\n" for name in files))


def built_layer(root: Path) -> Path:
    """A layer built for another platform: a compiled PyYAML (which the host also has), a
    compiled distribution the host lacks, and pure-Python code."""
    site = root / "python"
    foreign = elf(other_machine())
    install(
        site,
        "PyYAML",
        {
            "yaml/__init__.py": b"raise ImportError('the layer build of yaml was imported')\n",
            "yaml/_yaml.cpython-312-aarch64-linux-gnu.so": foreign,
        },
    )
    install(site, "fastlib", {"fastlib/__init__.py": b"", "fastlib/_core.abi3.so": foreign})
    install(site, "purelib", {"purelib.py": b"ORIGIN = 'layer'\n"})
    return site


def test_foreign_binaries_are_told_by_tag_and_by_machine(tmp_path: Path) -> None:
    own_suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    host = elf(host_machine())
    cases = {
        f"own{own_suffix}": (host, False),
        "other.cpython-312-aarch64-linux-gnu.so": (
            host,
            ".cpython-312-aarch64-linux-gnu.so" not in importlib.machinery.EXTENSION_SUFFIXES,
        ),
        "other_tag.cpython-399-x86_64-linux-gnu.so": (host, True),
        "abi3_other_machine.abi3.so": (elf(other_machine()), True),
        "libblas-1a2b.so.3": (elf(other_machine()), True),
        "libown.so": (host, False),
    }
    for name, (content, foreign) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert is_foreign_binary(tmp_path / name) is foreign, name


def test_the_host_build_stands_in_for_a_foreign_one(tmp_path: Path) -> None:
    site = built_layer(tmp_path)
    layer_view = view(site)
    assert layer_view.replaced == ["PyYAML"]
    assert layer_view.unloadable == ["fastlib"]  # the host has none: kept, and said
    assert layer_view.path != site
    names = sorted(p.name for p in layer_view.path.iterdir())
    assert names == ["fastlib", "fastlib-1.0.dist-info", "purelib-1.0.dist-info", "purelib.py"]
    assert (layer_view.path / "purelib.py").resolve() == (site / "purelib.py").resolve()
    assert view(site).path == layer_view.path  # made once, then reused


def test_a_layer_for_this_platform_is_used_as_built(tmp_path: Path) -> None:
    site = tmp_path / "python"
    install(site, "PyYAML", {"yaml/__init__.py": b"", "yaml/_yaml.abi3.so": elf(host_machine())})
    assert view(site).path == site.resolve()
    assert view(site).replaced == []


def test_a_function_of_a_built_template_imports_the_host_build(tmp_path, capsys) -> None:
    built_layer(tmp_path / "Layer")
    (tmp_path / "Fn").mkdir()
    (tmp_path / "Fn" / "app.py").write_text(
        textwrap.dedent(
            """
            import purelib
            import yaml

            def handler(event, context):
                return {"yaml": yaml.__file__, "purelib": purelib.ORIGIN}
            """
        )
    )
    (tmp_path / "template.yaml").write_text(
        textwrap.dedent(
            """
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Layer:
                Type: AWS::Serverless::LayerVersion
                Properties: {ContentUri: Layer}
              Fn:
                Type: AWS::Serverless::Function
                Properties:
                  CodeUri: Fn
                  Handler: app.handler
                  Runtime: python3.99
                  Layers: [!Ref Layer]
            """
        )
    )
    functions_module._WARNED.clear()
    functions = resolve_functions(load_template(tmp_path / "template.yaml"))
    resolve_functions(load_template(tmp_path / "template.yaml"))  # said once, not twice
    err = capsys.readouterr().err
    assert err.count("sfnstack: layer Layer: PyYAML built for another platform; this") == 1
    assert err.count("fastlib built for another platform and not installed here") == 1
    assert err.count("functions declare Runtime python3.99; they run on this Python") == 1
    pool = LambdaPool(functions, max_workers=1)
    try:
        result = pool.invoke("Fn", {})
    finally:
        pool.close()
    assert Path(result["yaml"]).resolve() == Path(yaml.__file__).resolve()
    assert result["purelib"] == "layer"
